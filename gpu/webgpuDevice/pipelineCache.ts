/**
 * Compute pipelines cached by (shader source, entry point, override constants, layout), so each
 * variant is compiled once per device however many kernels and calls use it.
 */

export type OverrideConstants = Record<string, number>;

export interface PipelineRequest {
  /** Full WGSL source of the module. */
  code: string;
  entryPoint: string;
  constants?: OverrideConstants;
  /** Explicit layout (shared bind groups across entry points), or 'auto'. */
  layout?: GPUPipelineLayout | 'auto';
  label?: string;
}

export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layoutIds = new WeakMap<GPUPipelineLayout, number>();
  private nextLayoutId = 1;

  constructor(readonly device: GPUDevice) {}

  module(code: string, label?: string): GPUShaderModule {
    let module = this.modules.get(code);
    if (!module) {
      module = this.device.createShaderModule({ code, ...(label ? { label } : {}) });
      this.modules.set(code, module);
    }
    return module;
  }

  private key(request: PipelineRequest): string {
    const layout = request.layout ?? 'auto';
    let layoutId = 0;
    if (layout !== 'auto') {
      layoutId = this.layoutIds.get(layout) ?? 0;
      if (!layoutId) {
        layoutId = this.nextLayoutId++;
        this.layoutIds.set(layout, layoutId);
      }
    }
    const constants = Object.entries(request.constants ?? {})
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => `${name}=${value}`)
      .join(',');
    // Sources are long: key on a hash plus the length (a collision also needs equal length).
    return `${hashString(request.code)}:${request.code.length}|${request.entryPoint}|${constants}|${layoutId}`;
  }

  private descriptor(request: PipelineRequest): GPUComputePipelineDescriptor {
    return {
      label: request.label ?? request.entryPoint,
      layout: request.layout ?? 'auto',
      compute: {
        module: this.module(request.code, request.label),
        entryPoint: request.entryPoint,
        ...(request.constants ? { constants: request.constants } : {}),
      },
    };
  }

  get(request: PipelineRequest): GPUComputePipeline {
    const key = this.key(request);
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      pipeline = this.device.createComputePipeline(this.descriptor(request));
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /** Compiles ahead of use; rejects with the compiler's message when the shader is invalid. */
  async prepare(request: PipelineRequest): Promise<GPUComputePipeline> {
    const key = this.key(request);
    const cached = this.pipelines.get(key);
    if (cached) return cached;
    const pipeline = await this.device.createComputePipelineAsync(this.descriptor(request));
    this.pipelines.set(key, pipeline);
    return pipeline;
  }

  get size(): number {
    return this.pipelines.size;
  }

  clear(): void {
    this.pipelines.clear();
    this.modules.clear();
  }
}

/** FNV-1a, 32-bit, as 8 hex digits. */
export function hashString(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
