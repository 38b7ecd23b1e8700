/*
 * Time line suite, version 1: read and move the host time line an instance
 * is attached to. Optional.
 */
#ifndef PROMPTREEL_OFX_TIMELINE_H
#define PROMPTREEL_OFX_TIMELINE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Name to pass to fetchSuite (version 1). */
#define kOfxTimeLineSuite "OfxTimeLineSuite"

typedef struct OfxTimeLineSuiteV1 {
  /** Current time of the time line, in the effect's time. */
  OfxStatus (*getTime)(void *instance, double *time);
  /** Moves the time line and waits for the consequences. */
  OfxStatus (*gotoTime)(void *instance, double time);
  /** First and last time of the time line. */
  OfxStatus (*getTimeBounds)(void *instance, double *firstTime,
                             double *lastTime);
} OfxTimeLineSuiteV1;

#ifdef __cplusplus
}
#endif

#endif /* PROMPTREEL_OFX_TIMELINE_H */
