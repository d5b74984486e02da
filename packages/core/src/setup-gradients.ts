// tfjs-core's CommonJS build registers no gradient functions, and its ESM files cannot be loaded
// by plain Node (extensionless imports). Importing the registrations here lets tsup bundle them
// into @mtljs/core's own output (see tsup.config.ts): they register into tfjs's global kernel
// registry, shared by every copy of tfjs-core in the process, so `tf.variableGrads` works from
// the built package in plain Node, not only under a bundler or vitest.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
