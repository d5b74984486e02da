import { defineConfig } from 'vitest/config';
import { packageTestConfig } from '@mtljs/vitest-config';

export default defineConfig(packageTestConfig('@mtljs/perf'));
