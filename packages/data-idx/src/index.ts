export { encodeIdx, parseIdxHeader, IDX_TYPE_CODES } from './format';
export type { IdxDtype, IdxHeader, IdxTypedArray } from './format';
export type { ByteInput, ByteSource } from './bytes';
export { DEFAULT_MAX_BYTES, DEFAULT_MAX_RECORD_BYTES, parseIdx, readIdx, readIdxHeader } from './read';
export type { IdxArray, ReadIdxOptions } from './read';
export { idxRecords } from './records';
export type { IdxRecord, IdxRecordStream, IdxRecordsOptions } from './records';
export { idxSource } from './source';
export type { IdxInput, IdxSourceOptions } from './source';
