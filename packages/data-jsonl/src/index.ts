export { fitJsonlSchema, jsonlSource } from './jsonl-source';
export type { JsonlInput, JsonlInputOptions, JsonlSourceOptions } from './jsonl-source';
export { jsonlRows } from './jsonl-rows';
export type { JsonlFormatOptions } from './jsonl-rows';
export { jsonlAdapter } from './plugin';
