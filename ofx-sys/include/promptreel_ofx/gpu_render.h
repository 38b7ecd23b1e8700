/*
 * GPU rendering negotiation (OpenGL since 1.3; CUDA, Metal and OpenCL since
 * 1.5; CPU opt-out since 1.5.1). The effect and the host each set the
 * "...RenderSupported" string properties on their descriptors; when both
 * agree, the host sets the matching "...Enabled" int on the render in args,
 * and kOfxImagePropData then holds device memory instead of host memory.
 */
#ifndef PROMPTREEL_OFX_GPU_RENDER_H
#define PROMPTREEL_OFX_GPU_RENDER_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values of the "...RenderSupported" string properties. The specification
   gives them as literals only. "needed" is defined for OpenGL only. */
#define PROMPTREEL_OFX_SUPPORTED_FALSE "false"
#define PROMPTREEL_OFX_SUPPORTED_TRUE "true"
#define PROMPTREEL_OFX_SUPPORTED_NEEDED "needed"

/** 1.5.1, descriptor and host: whether CPU rendering is possible
    ("false"/"true"). */
#define kOfxImageEffectPropCPURenderSupported "OfxImageEffectPropCPURenderSupported"

/* OpenGL. */
#define kOfxImageEffectPropOpenGLRenderSupported "OfxImageEffectPropOpenGLRenderSupported"
/** Depths the effect accepts for OpenGL textures (string x N). */
#define kOfxOpenGLPropPixelDepth "OfxOpenGLPropPixelDepth"
#define kOfxImageEffectPropOpenGLEnabled "OfxImageEffectPropOpenGLEnabled"
#define kOfxImageEffectPropOpenGLTextureIndex "OfxImageEffectPropOpenGLTextureIndex"
#define kOfxImageEffectPropOpenGLTextureTarget "OfxImageEffectPropOpenGLTextureTarget"
#define kOfxActionOpenGLContextAttached "OfxActionOpenGLContextAttached"
/** Note: this value starts with "k" in the specification. */
#define kOfxActionOpenGLContextDetached "kOfxActionOpenGLContextDetached"

/* CUDA. */
/** Descriptor and host ("false"/"true"). */
#define kOfxImageEffectPropCudaRenderSupported "OfxImageEffectPropCudaRenderSupported"
/** Render in arg: 1 when image data pointers are CUDA device pointers. */
#define kOfxImageEffectPropCudaEnabled "OfxImageEffectPropCudaEnabled"
/** Descriptor and host: whether a CUDA stream is passed ("false"/"true"). */
#define kOfxImageEffectPropCudaStreamSupported "OfxImageEffectPropCudaStreamSupported"
/** Render in arg: the cudaStream_t to enqueue work on (pointer). */
#define kOfxImageEffectPropCudaStream "OfxImageEffectPropCudaStream"

/* Metal. */
#define kOfxImageEffectPropMetalRenderSupported "OfxImageEffectPropMetalRenderSupported"
#define kOfxImageEffectPropMetalEnabled "OfxImageEffectPropMetalEnabled"
/** Render in arg: the id<MTLCommandQueue> to use (pointer). */
#define kOfxImageEffectPropMetalCommandQueue "OfxImageEffectPropMetalCommandQueue"

/* OpenCL (buffers). */
#define kOfxImageEffectPropOpenCLRenderSupported "OfxImageEffectPropOpenCLRenderSupported"
#define kOfxImageEffectPropOpenCLEnabled "OfxImageEffectPropOpenCLEnabled"
/** Render in arg: the cl_command_queue to use (pointer). */
#define kOfxImageEffectPropOpenCLCommandQueue "OfxImageEffectPropOpenCLCommandQueue"
/* OpenCL (images). */
#define kOfxImageEffectPropOpenCLSupported "OfxImageEffectPropOpenCLSupported"
#define kOfxImageEffectPropOpenCLImage "OfxImageEffectPropOpenCLImage"

/* Status codes a GPU render may return; the host may retry on the CPU. */
#define kOfxStatGPUOutOfMemory 1001
#define kOfxStatGPURenderFailed 1002
/* Older names of the same codes. */
#define kOfxStatGLOutOfMemory 1001
#define kOfxStatGLRenderFailed 1002

#ifdef __cplusplus
}
#endif

#endif /* PROMPTREEL_OFX_GPU_RENDER_H */
