import { defineConfig } from 'tsup';
import { libraryConfig } from '@mtljs/tsup-config';

// The gradient registrations of tfjs-core are bundled in (see src/setup-gradients.ts); the rest
// of tfjs-core stays an external peer.
export default defineConfig(
  libraryConfig({
    noExternal: [/^@tensorflow\/tfjs-core\/dist\//],
  }),
);
