export { cpuBackend } from './backend';
