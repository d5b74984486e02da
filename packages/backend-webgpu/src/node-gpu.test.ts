import { describe, expect, it } from 'vitest';
import { chooseVulkanDriver, SWIFTSHADER_ICD, type FileView } from './node-gpu';

/** A file system holding exactly these paths. */
function files(...paths: string[]): FileView {
  return {
    exists: (path) => paths.includes(path),
    list: (directory) => paths.filter((path) => path.startsWith(`${directory}/`)).map((path) => path.slice(directory.length + 1).split('/')[0]!),
  };
}

const chromium = SWIFTSHADER_ICD;

describe("chooseVulkanDriver (swiftshader: 'auto')", () => {
  it('points Vulkan at SwiftShader when nothing else is set up (this machine)', () => {
    expect(chooseVulkanDriver({}, files(chromium))).toEqual({
      icd: chromium,
      note: `Vulkan driver: SwiftShader (VK_ICD_FILENAMES=${chromium}, set by @mtljs/backend-webgpu)`,
    });
  });

  it("leaves the user's VK_ICD_FILENAMES or VK_DRIVER_FILES alone", () => {
    expect(chooseVulkanDriver({ VK_ICD_FILENAMES: '/my/icd.json' }, files(chromium))).toEqual({ note: 'Vulkan driver from the environment: /my/icd.json' });
    expect(chooseVulkanDriver({ VK_DRIVER_FILES: '/my/icd.json' }, files(chromium)).icd).toBeUndefined();
  });

  it('does nothing without Debian chromium’s SwiftShader', () => {
    expect(chooseVulkanDriver({}, files())).toEqual({});
  });

  it('leaves a GPU with its Vulkan driver alone', () => {
    const gpu = files(chromium, '/dev/dri/renderD128', '/usr/share/vulkan/icd.d/radeon_icd.x86_64.json');
    expect(chooseVulkanDriver({}, gpu)).toEqual({ note: "Vulkan driver: the system's (found /usr/share/vulkan/icd.d/radeon_icd.x86_64.json; SwiftShader left unused)" });
    const nvidia = files(chromium, '/dev/nvidia0', '/etc/vulkan/icd.d/nvidia_icd.json');
    expect(chooseVulkanDriver({}, nvidia).icd).toBeUndefined();
    const home = files(chromium, '/dev/dxg', '/home/me/.local/share/vulkan/icd.d/dzn_icd.json');
    expect(chooseVulkanDriver({ HOME: '/home/me' }, home).icd).toBeUndefined();
  });

  it('still uses SwiftShader when the only driver is lavapipe (Dawn rejects it) or there is no GPU device', () => {
    expect(chooseVulkanDriver({}, files(chromium, '/dev/dri/renderD128', '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json')).icd).toBe(chromium);
    expect(chooseVulkanDriver({}, files(chromium, '/usr/share/vulkan/icd.d/radeon_icd.x86_64.json')).icd).toBe(chromium);
  });
});
