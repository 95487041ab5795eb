// What tsc emits for `export default defineJob(...)` with "module": "commonjs".
Object.defineProperty(exports, '__esModule', { value: true });
const core_1 = require('../../../index.ts');
exports.default = (0, core_1.defineJob)({ name: 'compiled-js' }, () => {});
