import { webgpuBackend } from '../backends';
import { defineOperatorSuite } from '../operatorSuite';

// SwiftShader runs WGSL on the CPU: fewer, smaller cases than the CPU backend's suite.
defineOperatorSuite(webgpuBackend, { maxLength: 200, runs: 12, normalLength: 30_000 });
