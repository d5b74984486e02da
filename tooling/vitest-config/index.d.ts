import type { UserConfig } from 'vitest/config';
export declare function packageTestConfig(
  name: string,
  overrides?: NonNullable<UserConfig['test']>,
): UserConfig;

export interface SystemFile {
  path: string;
  /** True where the file exists, and always under CI (where its absence must fail the test). */
  run: boolean;
  /** '' where present; otherwise ' (skipped: <path> not installed; apt-get install <package>)'. */
  note: string;
}
export declare function systemFile(path: string, aptPackage: string): SystemFile;
/** /usr/bin/chromium from Debian's chromium package. */
export declare const chromium: SystemFile;
