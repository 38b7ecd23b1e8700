/*
 * Promptreel's declarations of the OpenFX core API: the bootstrap structs a
 * host and a plug-in binary exchange, the generic actions, general
 * properties, geometry types and status codes.
 *
 * Written from the OpenFX 1.5 specification. Names and values follow the
 * specification exactly (they are part of the ABI); layout and comments are
 * our own.
 */
#ifndef PROMPTREEL_OFX_CORE_H
#define PROMPTREEL_OFX_CORE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Opaque handles and basic types                                            */
/* ------------------------------------------------------------------------ */

/** Opaque handle to a set of named, typed properties owned by the host. */
typedef struct OfxPropertySetStruct *OfxPropertySetHandle;

/** Result code of every OpenFX call; see the kOfxStat* values below. */
typedef int OfxStatus;

/** A time value, in frames. */
typedef double OfxTime;

/** Inclusive integer range. */
typedef struct OfxRangeI {
  int min;
  int max;
} OfxRangeI;

/** Inclusive floating-point range. */
typedef struct OfxRangeD {
  double min;
  double max;
} OfxRangeD;

/** Integer 2D point. */
typedef struct OfxPointI {
  int x;
  int y;
} OfxPointI;

/** Floating-point 2D point. */
typedef struct OfxPointD {
  double x;
  double y;
} OfxPointD;

/** Integer rectangle, half open: x1 <= x < x2, y1 <= y < y2. */
typedef struct OfxRectI {
  int x1;
  int y1;
  int x2;
  int y2;
} OfxRectI;

/** Floating-point rectangle, half open like OfxRectI. */
typedef struct OfxRectD {
  double x1;
  double y1;
  double x2;
  double y2;
} OfxRectD;

/** Marks an unbounded upper edge of a rectangle (the value of INT_MAX). */
#define kOfxFlagInfiniteMax 2147483647
/** Marks an unbounded lower edge of a rectangle (the value of INT_MIN). */
#define kOfxFlagInfiniteMin (-2147483647 - 1)

/* ------------------------------------------------------------------------ */
/* Bootstrap: the host struct, the plug-in struct, the binary's entry points */
/* ------------------------------------------------------------------------ */

/** What the host hands to a plug-in so it can reach the host's suites. */
typedef struct OfxHost {
  /** Properties describing the host; valid while the binary stays loaded. */
  OfxPropertySetHandle host;
  /** Returns the named suite at the given version, or NULL if unknown.
      The first argument must be the `host` member above. */
  const void *(*fetchSuite)(OfxPropertySetHandle host, const char *suiteName,
                            int suiteVersion);
} OfxHost;

/** Signature of a plug-in's main entry: every action arrives here. `handle`
    is action specific (usually an OfxImageEffectHandle). */
typedef OfxStatus(OfxPluginEntryPoint)(const char *action, const void *handle,
                                       OfxPropertySetHandle inArgs,
                                       OfxPropertySetHandle outArgs);

/** What a plug-in binary reports for each plug-in it contains. */
typedef struct OfxPlugin {
  /** API implemented, e.g. kOfxImageEffectPluginApi. */
  const char *pluginApi;
  /** Version of that API, e.g. kOfxImageEffectPluginApiVersion. */
  int apiVersion;
  /** Unique, whitespace-free identifier, reverse-domain style. */
  const char *pluginIdentifier;
  /** Bumped when backwards compatibility breaks. */
  unsigned int pluginVersionMajor;
  /** Bumped for compatible changes. */
  unsigned int pluginVersionMinor;
  /** Called first; the plug-in only stores the pointer here. */
  void (*setHost)(OfxHost *host);
  /** The action dispatcher. */
  OfxPluginEntryPoint *mainEntry;
} OfxPlugin;

/* The symbols a plug-in binary exports. A host looks them up by name. */

/** Optional (1.5): called before anything else, when the host supports it. */
OfxStatus OfxSetHost(const OfxHost *host);
/** How many plug-ins the binary contains. */
int OfxGetNumberOfPlugins(void);
/** The nth plug-in of the binary. */
OfxPlugin *OfxGetPlugin(int nth);

/* ------------------------------------------------------------------------ */
/* Generic actions (passed as the `action` string to mainEntry)              */
/* ------------------------------------------------------------------------ */

#define kOfxActionLoad "OfxActionLoad"
#define kOfxActionDescribe "OfxActionDescribe"
#define kOfxActionUnload "OfxActionUnload"
#define kOfxActionPurgeCaches "OfxActionPurgeCaches"
#define kOfxActionSyncPrivateData "OfxActionSyncPrivateData"
#define kOfxActionCreateInstance "OfxActionCreateInstance"
#define kOfxActionDestroyInstance "OfxActionDestroyInstance"
#define kOfxActionInstanceChanged "OfxActionInstanceChanged"
#define kOfxActionBeginInstanceChanged "OfxActionBeginInstanceChanged"
#define kOfxActionEndInstanceChanged "OfxActionEndInstanceChanged"
#define kOfxActionBeginInstanceEdit "OfxActionBeginInstanceEdit"
#define kOfxActionEndInstanceEdit "OfxActionEndInstanceEdit"

/* ------------------------------------------------------------------------ */
/* General properties                                                        */
/* ------------------------------------------------------------------------ */

/** Host: API versions implemented (int x N). */
#define kOfxPropAPIVersion "OfxPropAPIVersion"
/** A time argument (double x 1). */
#define kOfxPropTime "OfxPropTime"
/** Instance: whether a user interface is open on it (int x 1). */
#define kOfxPropIsInteractive "OfxPropIsInteractive"
/** Descriptor: path of the bundle the plug-in was loaded from (string). */
#define kOfxPluginPropFilePath "OfxPluginPropFilePath"
/** Instance: a pointer the plug-in may hang its own data on. */
#define kOfxPropInstanceData "OfxPropInstanceData"
/** Kind of object behind a handle (string, one of the kOfxType* values). */
#define kOfxPropType "OfxPropType"
/** Unique name of an object (string). */
#define kOfxPropName "OfxPropName"
/** Version of a host or plug-in, one int per dotted component (int x N). */
#define kOfxPropVersion "OfxPropVersion"
/** Version shown to users (string). */
#define kOfxPropVersionLabel "OfxPropVersionLabel"
/** Longer description shown to users (UTF-8 string). */
#define kOfxPropPluginDescription "OfxPropPluginDescription"
/** Label shown to users (UTF-8 string). */
#define kOfxPropLabel "OfxPropLabel"
/** Icon files relative to the bundle's Resources: [0] SVG, [1] PNG. */
#define kOfxPropIcon "OfxPropIcon"
/** Short label (UTF-8 string). */
#define kOfxPropShortLabel "OfxPropShortLabel"
/** Long label (UTF-8 string). */
#define kOfxPropLongLabel "OfxPropLongLabel"
/** Why an InstanceChanged action happened (one of kOfxChange*). */
#define kOfxPropChangeReason "OfxPropChangeReason"
/** Interact: the effect instance it belongs to (pointer). */
#define kOfxPropEffectInstance "OfxPropEffectInstance"
/** Host: native application window handle (pointer). */
#define kOfxPropHostOSHandle "OfxPropHostOSHandle"

/* Values of kOfxPropChangeReason. */
#define kOfxChangeUserEdited "OfxChangeUserEdited"
#define kOfxChangePluginEdited "OfxChangePluginEdited"
#define kOfxChangeTime "OfxChangeTime"

/* ------------------------------------------------------------------------ */
/* Pixel depths                                                              */
/* ------------------------------------------------------------------------ */

#define kOfxBitDepthNone "OfxBitDepthNone"
#define kOfxBitDepthByte "OfxBitDepthByte"
#define kOfxBitDepthShort "OfxBitDepthShort"
#define kOfxBitDepthHalf "OfxBitDepthHalf"
#define kOfxBitDepthFloat "OfxBitDepthFloat"

/* ------------------------------------------------------------------------ */
/* Status codes. Plain integer literals on purpose: bindgen drops macros     */
/* that contain casts, and these must stay signed (OfxStatus is an int).     */
/* ------------------------------------------------------------------------ */

#define kOfxStatOK 0
#define kOfxStatFailed 1
#define kOfxStatErrFatal 2
#define kOfxStatErrUnknown 3
#define kOfxStatErrMissingHostFeature 4
#define kOfxStatErrUnsupported 5
#define kOfxStatErrExists 6
#define kOfxStatErrFormat 7
#define kOfxStatErrMemory 8
#define kOfxStatErrBadHandle 9
#define kOfxStatErrBadIndex 10
#define kOfxStatErrValue 11
#define kOfxStatReplyYes 12
#define kOfxStatReplyNo 13
#define kOfxStatReplyDefault 14

#ifdef __cplusplus
}
#endif

#endif /* PROMPTREEL_OFX_CORE_H */
