import { defineConfig } from 'tsup';
import { libraryConfig } from '@mtljs/tsup-config';

export default defineConfig(libraryConfig());
