import { defineJob } from '../../../index.ts';

export default defineJob({ name: 'esm-syntax-js' }, () => {});
