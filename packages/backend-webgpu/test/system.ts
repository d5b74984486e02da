// What the WebGPU tests need from the system, and the skip rule: a test that needs a missing system
// package skips with the reason in its name, except under CI, where it runs and fails.
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const inCi = Boolean(process.env['CI']);

/** Vulkan's SwiftShader driver from Debian's chromium package: Dawn's adapter in Node here. */
export const hasSwiftShader = existsSync(SWIFTSHADER_ICD) || inCi;
export const swiftShaderSkip = existsSync(SWIFTSHADER_ICD) ? '' : ` (skipped: ${SWIFTSHADER_ICD} not installed; apt-get install chromium)`;

export const hasChromium = existsSync(CHROMIUM) || inCi;
export const chromiumSkip = existsSync(CHROMIUM) ? '' : ` (skipped: ${CHROMIUM} not installed; apt-get install chromium)`;
