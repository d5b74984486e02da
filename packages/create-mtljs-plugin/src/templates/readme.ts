import type { TemplateContext } from './common';

// Each kind's README asks for the facts a user needs to trust the plugin: what it computes
// exactly, where, with which defaults, and how it differs from the paper it follows.
const SEMANTICS: Record<TemplateContext['kind'], string> = {
  weighting: `- **Level**: loss, gramian or jacobian. **Formula**: the weights (or the update) as an
  equation over the active tasks, and the paper and equation it comes from.
- **Sum or mean**: the update is Σ_t w_t g_t. Do the weights sum to 1, to T, or neither? Say it.
- **Sites**: the sites it supports and its default (the first in \`sites\`); what changes at
  \`last-shared\` and \`features\`.
- **Inactive tasks**: how the rule behaves when some tasks have no labelled example in a batch.
- **State**: what the state holds between steps (JSON), and where randomness comes from (an \`Rng\`
  kept in the state), if any.
- **Options and defaults**: every option, its default and its valid range.
- **Differences**: from the paper and from well-known implementations (LibMTL, torchjd, …).
- **Properties claimed** in the test (permutation invariant, non-conflicting, scale invariant, seed dependent).`,
  sharing: `- **Architecture**: what is shared and what belongs to each task, with the paper it follows.
- **Variables**: which are \`sharedVariables()\`, which are \`lastSharedVariables()\`, and what the
  features (\`encode\`'s output) are: one tensor or one per task/expert.
- **Sites**: the gradient sites its models support, and why any is left out.
- **Spec**: how \`encoder\` and \`head\` from the model spec are used; options and their defaults.
- **Penalty**: any regulariser \`penalty()\` adds to the objective, and its scale.
- **Differences**: from the paper and from well-known implementations.`,
  data: `- **Format**: what a file holds and how it maps to inputs, targets per task and masks.
- **Missing values**: how an unlabelled example is written and what its mask is.
- **Order and size**: batch order, \`shuffled(seed)\`, the last batch, memory use (streamed or read whole).
- **Options and defaults**: every option the adapter takes through \`open(input, options)\`.
- **Errors**: which problems are reported, naming the file, line or column.`,
  backend: `- **What it runs on** and what must be installed; what \`isAvailable()\` checks, and its reasons.
- **Priority**: where it ranks in \`useBackend('auto')\` and why.
- **Numerics**: how far its results are from the cpu reference (the conformance test's tolerance).
- **Process**: anything that must be done to let the process exit, or other global effects.`,
};

export function readme({ kind, name, packageName, factory }: TemplateContext): string {
  const configExample = {
    weighting: `"weighting": "${name}"`,
    sharing: `"model": { "sharing": "${name}", "encoder": { "type": "mlp", "units": [64, 32] } }`,
    data: `"data": { "adapter": "${name}", "train": "train.json", "options": { "batchSize": 64 } }`,
    backend: `"backend": "${name}"`,
  }[kind];
  return `# ${packageName}

TODO: one paragraph on what the '${name}' ${kind} plugin does and when to use it.

## Install

\`\`\`sh
npm install ${packageName} @mtljs/core @tensorflow/tfjs-core
\`\`\`

\`@mtljs/core\` and \`@tensorflow/tfjs-core\` are peer dependencies: the application has exactly one
copy of each.

## Use

\`\`\`ts
import { register } from '@mtljs/core';
import { ${factory} } from '${packageName}';

register(${factory}());
\`\`\`

With the \`mtl\` command line, name the package in the config's \`plugins\` and the plugin by its
registered name:

\`\`\`json
{ "plugins": ["${packageName}"], ${configExample} }
\`\`\`

## Semantics

TODO: state each of these exactly; a user must be able to predict what the plugin does from this
section alone.

${SEMANTICS[kind]}

## Development

\`\`\`sh
npm install
npm run build       # dist/: ESM, CommonJS and declarations
npm test            # the @mtljs/testkit conformance checks and this plugin's own tests
npm run typecheck
\`\`\`

## Licence

MIT
`;
}
