const { defineJob } = require('../../index.ts') as typeof import('../../index.ts');

module.exports = defineJob({ name: 'commonjs-cts' }, () => {});
