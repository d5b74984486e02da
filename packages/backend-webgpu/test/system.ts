// What the WebGPU tests need from the system, and the skip rule (tooling's systemFile): a test that
// needs a missing system package skips with the reason in its name, except under CI, where it runs
// and fails.
import { chromium, systemFile } from '@mtljs/vitest-config';

export const CHROMIUM = chromium.path;
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const swiftShader = systemFile(SWIFTSHADER_ICD, 'chromium');

/** Vulkan's SwiftShader driver from Debian's chromium package: Dawn's adapter in Node here. */
export const hasSwiftShader = swiftShader.run;
export const swiftShaderSkip = swiftShader.note;

export const hasChromium = chromium.run;
export const chromiumSkip = chromium.note;
