/*
 * Message suite, versions 1 and 2: show messages to the user (printf style).
 * Version 2 keeps version 1's first member and adds persistent messages that
 * stay attached to an effect instance until cleared.
 */
#ifndef PROMPTREEL_OFX_MESSAGE_H
#define PROMPTREEL_OFX_MESSAGE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Name to pass to fetchSuite (version 1 or 2). */
#define kOfxMessageSuite "OfxMessageSuite"

/* Message kinds (the messageType argument). */
#define kOfxMessageFatal "OfxMessageFatal"
#define kOfxMessageError "OfxMessageError"
#define kOfxMessageWarning "OfxMessageWarning"
#define kOfxMessageMessage "OfxMessageMessage"
#define kOfxMessageLog "OfxMessageLog"
/** Modal yes/no question; the call answers kOfxStatReplyYes/No. */
#define kOfxMessageQuestion "OfxMessageQuestion"

typedef struct OfxMessageSuiteV1 {
  /** Posts a transient message; `handle` is an effect handle or NULL.
      messageId may be NULL. */
  OfxStatus (*message)(void *handle, const char *messageType,
                       const char *messageId, const char *format, ...);
} OfxMessageSuiteV1;

typedef struct OfxMessageSuiteV2 {
  /** Same as OfxMessageSuiteV1::message. */
  OfxStatus (*message)(void *handle, const char *messageType,
                       const char *messageId, const char *format, ...);
  /** Attaches an error, warning or message to an instance (not NULL). */
  OfxStatus (*setPersistentMessage)(void *handle, const char *messageType,
                                    const char *messageId, const char *format,
                                    ...);
  /** Removes the persistent message and any error state it set. */
  OfxStatus (*clearPersistentMessage)(void *handle);
} OfxMessageSuiteV2;

#ifdef __cplusplus
}
#endif

#endif /* PROMPTREEL_OFX_MESSAGE_H */
