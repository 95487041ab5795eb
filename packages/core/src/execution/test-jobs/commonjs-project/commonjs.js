const { defineJob } = require('../../../index.ts');

module.exports = defineJob({ name: 'commonjs-js' }, () => {});
