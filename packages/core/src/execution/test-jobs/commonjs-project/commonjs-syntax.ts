// require and module.exports in a .ts file of a CommonJS project: Node strips the types and runs
// it as CommonJS.
const { defineJob } = require('../../../index.ts');

const name: string = 'commonjs-syntax-ts';
module.exports = defineJob({ name }, () => {});
