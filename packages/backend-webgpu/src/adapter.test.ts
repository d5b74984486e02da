import { describe, expect, it } from 'vitest';
import { classifyAdapter, describeAdapter, type GpuAdapterLike } from './adapter';

describe('classifyAdapter', () => {
  it('SwiftShader through Dawn in Node (as measured here): software, with every field in the summary', () => {
    const report = classifyAdapter({
      vendor: 'google',
      architecture: 'swiftshader',
      device: 'swiftshader-device-subzero-',
      description: 'SwiftShader driver 5.0.0',
      isFallbackAdapter: true,
    });
    expect(report.kind).toBe('software');
    expect(report.evidence).toContain('fallback adapter');
    expect(report.evidence).toContain("architecture 'swiftshader'");
    expect(report.summary).toBe(
      "software WebGPU adapter (vendor 'google', architecture 'swiftshader', device 'swiftshader-device-subzero-', description 'SwiftShader driver 5.0.0', isFallbackAdapter true)",
    );
  });

  it("SwiftShader in Chromium (empty device and description): software from the architecture alone", () => {
    const report = classifyAdapter({ vendor: 'google', architecture: 'swiftshader', device: '', description: '' });
    expect(report.kind).toBe('software');
    expect(report.isFallbackAdapter).toBeUndefined();
    expect(report.summary).toBe("software WebGPU adapter (vendor 'google', architecture 'swiftshader')");
  });

  it.each([
    ['Mesa llvmpipe', { vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }],
    ['Mesa lavapipe', { vendor: 'mesa', device: 'lavapipe' }],
    ['WARP on D3D12', { vendor: 'microsoft', description: 'Microsoft Basic Render Driver' }],
    ['an adapter flagged as fallback, nothing else', { isFallbackAdapter: true }],
  ])('%s: software', (_, info) => {
    expect(classifyAdapter(info).kind).toBe('software');
  });

  it.each([
    ['NVIDIA', { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100 80GB HBM3' }],
    ['Apple', { vendor: 'apple', architecture: 'metal-3' }],
    ['Intel', { vendor: 'intel', architecture: 'gen-12lp', isFallbackAdapter: false }],
  ])('%s: hardware', (_, info) => {
    const report = classifyAdapter(info);
    expect(report.kind).toBe('hardware');
    expect(report.evidence).toBe('');
    expect(report.summary).toMatch(/^hardware WebGPU adapter \(vendor '/);
  });

  it('the adapter-level isFallbackAdapter (Chrome before 131) counts when info has none', () => {
    expect(classifyAdapter({ vendor: 'x' }, true).kind).toBe('software');
    expect(classifyAdapter({ vendor: 'x', isFallbackAdapter: false }, true).kind).toBe('hardware');
  });

  it('says so when the runtime exposes nothing', () => {
    expect(classifyAdapter({}).summary).toBe('hardware WebGPU adapter (the runtime exposes no adapter details)');
  });
});

describe('describeAdapter', () => {
  const base = { features: new Set<string>(), limits: {}, requestDevice: async () => ({ destroy() {} }) };

  it('reads adapter.info', async () => {
    const adapter: GpuAdapterLike = { ...base, info: { vendor: 'google', architecture: 'swiftshader' } };
    expect((await describeAdapter(adapter)).kind).toBe('software');
  });

  it('falls back to requestAdapterInfo() (Chrome 114–126), and to nothing when it rejects', async () => {
    const older: GpuAdapterLike = { ...base, requestAdapterInfo: async () => ({ vendor: 'nvidia', architecture: 'ampere' }) };
    expect((await describeAdapter(older)).summary).toBe("hardware WebGPU adapter (vendor 'nvidia', architecture 'ampere')");
    const refusing: GpuAdapterLike = { ...base, isFallbackAdapter: true, requestAdapterInfo: async () => Promise.reject(new Error('no')) };
    expect((await describeAdapter(refusing)).kind).toBe('software');
  });
});
