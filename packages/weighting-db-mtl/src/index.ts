export { dbMtl } from './db-mtl';
export type { DbMtlOptions, DbMtlState } from './db-mtl';
