/*
 * Multi-thread suite, version 1: the host's SMP thread pool and mutexes.
 * Optional; some hosts (DaVinci Resolve) do not provide it.
 */
#ifndef PROMPTREEL_OFX_MULTITHREAD_H
#define PROMPTREEL_OFX_MULTITHREAD_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Name to pass to fetchSuite (version 1). */
#define kOfxMultiThreadSuite "OfxMultiThreadSuite"

/** Opaque host mutex. */
typedef struct OfxMutex *OfxMutexHandle;

/** Work function run on each spawned thread; threadIndex is in
    [0, threadMax). */
typedef void(OfxThreadFunctionV1)(unsigned int threadIndex,
                                  unsigned int threadMax, void *customArg);

typedef struct OfxMultiThreadSuiteV1 {
  /** Runs func on nThreads threads and waits for all of them. */
  OfxStatus (*multiThread)(OfxThreadFunctionV1 *func, unsigned int nThreads,
                           void *customArg);
  /** Number of CPUs the host lets the plug-in use. */
  OfxStatus (*multiThreadNumCPUs)(unsigned int *nCPUs);
  /** Index of the calling spawned thread (0 outside multiThread). */
  OfxStatus (*multiThreadIndex)(unsigned int *threadIndex);
  /** 1 if the caller is a thread spawned by multiThread, else 0. */
  int (*multiThreadIsSpawnedThread)(void);
  /** Creates a mutex with an initial lock count. */
  OfxStatus (*mutexCreate)(OfxMutexHandle *mutex, int lockCount);
  OfxStatus (*mutexDestroy)(const OfxMutexHandle mutex);
  /** Blocking lock. */
  OfxStatus (*mutexLock)(const OfxMutexHandle mutex);
  OfxStatus (*mutexUnLock)(const OfxMutexHandle mutex);
  /** Non-blocking lock; kOfxStatFailed when already held. */
  OfxStatus (*mutexTryLock)(const OfxMutexHandle mutex);
} OfxMultiThreadSuiteV1;

#ifdef __cplusplus
}
#endif

#endif /* PROMPTREEL_OFX_MULTITHREAD_H */
