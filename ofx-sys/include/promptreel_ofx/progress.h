/*
 * Progress suite, versions 1 and 2: a progress bar for long work. Started
 * from InstanceChanged it may be modal with a cancel button; progressUpdate
 * then answers kOfxStatReplyNo when the user cancels. Version 2 adds a
 * message id to progressStart.
 */
#ifndef PROMPTREEL_OFX_PROGRESS_H
#define PROMPTREEL_OFX_PROGRESS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Name to pass to fetchSuite (version 1 or 2). */
#define kOfxProgressSuite "OfxProgressSuite"

typedef struct OfxProgressSuiteV1 {
  /** Opens a progress display for an instance (not NULL). */
  OfxStatus (*progressStart)(void *effectInstance, const char *label);
  /** Reports progress in [0, 1]; kOfxStatReplyNo means stop. */
  OfxStatus (*progressUpdate)(void *effectInstance, double progress);
  /** Closes the display. */
  OfxStatus (*progressEnd)(void *effectInstance);
} OfxProgressSuiteV1;

typedef struct OfxProgressSuiteV2 {
  /** Like version 1, with an optional message id (may be NULL). */
  OfxStatus (*progressStart)(void *effectInstance, const char *message,
                             const char *messageid);
  OfxStatus (*progressUpdate)(void *effectInstance, double progress);
  OfxStatus (*progressEnd)(void *effectInstance);
} OfxProgressSuiteV2;

#ifdef __cplusplus
}
#endif

#endif /* PROMPTREEL_OFX_PROGRESS_H */
