import { defineConfig } from 'tsup';
import { appConfig } from '@mtljs/tsup-config';

export default defineConfig(appConfig());
