import type { UserConfig } from 'vitest/config';
export declare function packageTestConfig(
  name: string,
  overrides?: NonNullable<UserConfig['test']>,
): UserConfig;
