export { csvSource, fitCsvSchema } from './csv-source';
export type { CsvInput, CsvInputOptions, CsvSourceOptions } from './csv-source';
export { csvRows } from './csv-rows';
export type { CsvFormatOptions } from './csv-rows';
export { csvAdapter } from './plugin';
