/*
 * Memory suite, version 1: general-purpose allocations from the host's
 * allocator (image buffers have their own calls in the image effect suite).
 */
#ifndef PROMPTREEL_OFX_MEMORY_H
#define PROMPTREEL_OFX_MEMORY_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Name to pass to fetchSuite (version 1). */
#define kOfxMemorySuite "OfxMemorySuite"

typedef struct OfxMemorySuiteV1 {
  /** Allocates nBytes, suitably aligned; `handle` is an instance or NULL. */
  OfxStatus (*memoryAlloc)(void *handle, size_t nBytes, void **allocatedData);
  /** Frees memory obtained from memoryAlloc. */
  OfxStatus (*memoryFree)(void *allocatedData);
} OfxMemorySuiteV1;

#ifdef __cplusplus
}
#endif

#endif /* PROMPTREEL_OFX_MEMORY_H */
