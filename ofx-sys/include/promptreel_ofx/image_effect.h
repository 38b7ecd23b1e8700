/*
 * The Image Effect API (version 1): contexts, actions, properties of hosts,
 * effects, clips and images, and the image effect suite.
 */
#ifndef PROMPTREEL_OFX_IMAGE_EFFECT_H
#define PROMPTREEL_OFX_IMAGE_EFFECT_H

#include "core.h"
#include "param.h"
#include "property.h"

#ifdef __cplusplus
extern "C" {
#endif

/** OfxPlugin::pluginApi of an image effect. Note the upper-case "API". */
#define kOfxImageEffectPluginApi "OfxImageEffectPluginAPI"
/** OfxPlugin::apiVersion of an image effect. */
#define kOfxImageEffectPluginApiVersion 1

/** Name to pass to fetchSuite (version 1). */
#define kOfxImageEffectSuite "OfxImageEffectSuite"

/** Opaque handle to an effect descriptor or instance. */
typedef struct OfxImageEffectStruct *OfxImageEffectHandle;
/** Opaque handle to a clip (input or output). */
typedef struct OfxImageClipStruct *OfxImageClipHandle;
/** Opaque handle to host image memory (imageMemoryAlloc). */
typedef struct OfxImageMemoryStruct *OfxImageMemoryHandle;

/* kOfxPropType values. */
#define kOfxTypeImageEffectHost "OfxTypeImageEffectHost"
#define kOfxTypeImageEffect "OfxTypeImageEffect"
#define kOfxTypeImageEffectInstance "OfxTypeImageEffectInstance"
#define kOfxTypeClip "OfxTypeClip"
#define kOfxTypeImage "OfxTypeImage"

/* ------------------------------------------------------------------------ */
/* Contexts                                                                  */
/* ------------------------------------------------------------------------ */

/** Only an "Output" clip; the effect makes images from nothing. */
#define kOfxImageEffectContextGenerator "OfxImageEffectContextGenerator"
#define kOfxImageEffectContextFilter "OfxImageEffectContextFilter"
#define kOfxImageEffectContextTransition "OfxImageEffectContextTransition"
#define kOfxImageEffectContextPaint "OfxImageEffectContextPaint"
/** Any clips; the only context asked for a time domain. */
#define kOfxImageEffectContextGeneral "OfxImageEffectContextGeneral"
#define kOfxImageEffectContextRetimer "OfxImageEffectContextRetimer"

/* Standard clip and parameter names. */
#define kOfxImageEffectOutputClipName "Output"
#define kOfxImageEffectSimpleSourceClipName "Source"
#define kOfxImageEffectTransitionSourceFromClipName "SourceFrom"
#define kOfxImageEffectTransitionSourceToClipName "SourceTo"
#define kOfxImageEffectTransitionParamName "Transition"
#define kOfxImageEffectRetimerParamName "SourceTime"

/* ------------------------------------------------------------------------ */
/* Actions                                                                   */
/* ------------------------------------------------------------------------ */

/** Called once per supported context; define clips and parameters here.
    inArgs: kOfxImageEffectPropContext. */
#define kOfxImageEffectActionDescribeInContext "OfxImageEffectActionDescribeInContext"
/** inArgs: time, render scale. outArgs: kOfxImageEffectPropRegionOfDefinition
    (canonical coordinates). */
#define kOfxImageEffectActionGetRegionOfDefinition "OfxImageEffectActionGetRegionOfDefinition"
/** inArgs: time, render scale, kOfxImageEffectPropRegionOfInterest.
    outArgs: one double x 4 per input clip named "OfxImageClipPropRoI_<clip>". */
#define kOfxImageEffectActionGetRegionsOfInterest "OfxImageEffectActionGetRegionsOfInterest"
/** General context only. outArgs: kOfxImageEffectPropFrameRange. */
#define kOfxImageEffectActionGetTimeDomain "OfxImageEffectActionGetTimeDomain"
/** inArgs: time. outArgs: "OfxImageClipPropFrameRange_<clip>" per input
    (double x 2N, pairs of inclusive ranges). */
#define kOfxImageEffectActionGetFramesNeeded "OfxImageEffectActionGetFramesNeeded"
/** outArgs: per-clip "OfxImageClipPropComponents_<clip>",
    "OfxImageClipPropDepth_<clip>", "OfxImageClipPropPAR_<clip>", plus frame
    rate, field order, premultiplication, continuous samples, frame varying. */
#define kOfxImageEffectActionGetClipPreferences "OfxImageEffectActionGetClipPreferences"
/** inArgs: time, field, render window, render scale. outArgs: kOfxPropName
    (clip to pass through) and kOfxPropTime. */
#define kOfxImageEffectActionIsIdentity "OfxImageEffectActionIsIdentity"
/** inArgs: time, field, render window (pixels), render scale, sequential and
    interactive status, draft quality, GPU enable flags. */
#define kOfxImageEffectActionRender "OfxImageEffectActionRender"
/** inArgs: frame range, frame step, interactive, render scale, statuses. */
#define kOfxImageEffectActionBeginSequenceRender "OfxImageEffectActionBeginSequenceRender"
#define kOfxImageEffectActionEndSequenceRender "OfxImageEffectActionEndSequenceRender"

/* Names of the per-clip out-argument properties above. The specification
   gives these prefixes only in prose; append the clip name. */
#define PROMPTREEL_OFX_CLIP_ROI_PREFIX "OfxImageClipPropRoI_"
#define PROMPTREEL_OFX_CLIP_FRAME_RANGE_PREFIX "OfxImageClipPropFrameRange_"
#define PROMPTREEL_OFX_CLIP_COMPONENTS_PREFIX "OfxImageClipPropComponents_"
#define PROMPTREEL_OFX_CLIP_DEPTH_PREFIX "OfxImageClipPropDepth_"
#define PROMPTREEL_OFX_CLIP_PAR_PREFIX "OfxImageClipPropPAR_"

/* ------------------------------------------------------------------------ */
/* Pixel components, premultiplication, fields                               */
/* ------------------------------------------------------------------------ */

#define kOfxImageComponentNone "OfxImageComponentNone"
#define kOfxImageComponentRGBA "OfxImageComponentRGBA"
#define kOfxImageComponentRGB "OfxImageComponentRGB"
#define kOfxImageComponentAlpha "OfxImageComponentAlpha"

#define kOfxImageOpaque "OfxImageOpaque"
/** Note the value differs from the macro name. */
#define kOfxImagePreMultiplied "OfxImageAlphaPremultiplied"
#define kOfxImageUnPreMultiplied "OfxImageAlphaUnPremultiplied"

/* Field values (note: "OfxField...", not "OfxImageField..."). */
#define kOfxImageFieldNone "OfxFieldNone"
#define kOfxImageFieldLower "OfxFieldLower"
#define kOfxImageFieldUpper "OfxFieldUpper"
#define kOfxImageFieldBoth "OfxFieldBoth"
#define kOfxImageFieldSingle "OfxFieldSingle"
#define kOfxImageFieldDoubled "OfxFieldDoubled"

/* ------------------------------------------------------------------------ */
/* Effect descriptor and host properties                                     */
/* ------------------------------------------------------------------------ */

/** Contexts the effect supports (string x N, kOfxImageEffectContext*). */
#define kOfxImageEffectPropSupportedContexts "OfxImageEffectPropSupportedContexts"
/** Pixel depths the effect or host supports (string x N, kOfxBitDepth*). */
#define kOfxImageEffectPropSupportedPixelDepths "OfxImageEffectPropSupportedPixelDepths"
/** Clip descriptor / host: components supported (string x N). */
#define kOfxImageEffectPropSupportedComponents "OfxImageEffectPropSupportedComponents"
/** Whether clips may differ in depth (int). The value is not the macro
    name with the "k" dropped. */
#define kOfxImageEffectPropSupportsMultipleClipDepths "OfxImageEffectPropMultipleClipDepths"
/** Whether clips may differ in pixel aspect ratio (int). */
#define kOfxImageEffectPropSupportsMultipleClipPARs "OfxImageEffectPropSupportsMultipleClipPARs"
/** Whether images may be any size and offset (int, default 1). */
#define kOfxImageEffectPropSupportsMultiResolution "OfxImageEffectPropSupportsMultiResolution"
/** Whether images may cover only part of their RoD (int, default 1). */
#define kOfxImageEffectPropSupportsTiles "OfxImageEffectPropSupportsTiles"
/** Whether images at other times may be fetched (int, default 0). */
#define kOfxImageEffectPropTemporalClipAccess "OfxImageEffectPropTemporalClipAccess"
/** Only one instance may exist at a time (int, default 0). */
#define kOfxImageEffectPluginPropSingleInstance "OfxImageEffectPluginPropSingleInstance"
/** How many renders may run at once (kOfxImageEffectRender*). */
#define kOfxImageEffectPluginRenderThreadSafety "OfxImageEffectPluginRenderThreadSafety"
#define kOfxImageEffectRenderUnsafe "OfxImageEffectRenderUnsafe"
#define kOfxImageEffectRenderInstanceSafe "OfxImageEffectRenderInstanceSafe"
#define kOfxImageEffectRenderFullySafe "OfxImageEffectRenderFullySafe"
/** Whether the host may split one frame into tiles on threads (int,
    default 1). */
#define kOfxImageEffectPluginPropHostFrameThreading "OfxImageEffectPluginPropHostFrameThreading"
/** Menu group of the effect (UTF-8 string). */
#define kOfxImageEffectPluginPropGrouping "OfxImageEffectPluginPropGrouping"
/** Parameters whose change re-runs GetClipPreferences (string x N). */
#define kOfxImageEffectPropClipPreferencesSlaveParam "OfxImageEffectPropClipPreferencesSlaveParam"
/** Render each field separately always (1) or only when animating (0). */
#define kOfxImageEffectPluginPropFieldRenderTwiceAlways "OfxImageEffectPluginPropFieldRenderTwiceAlways"
/** Entry point of the effect's viewer overlay interact (pointer). */
#define kOfxImageEffectPluginPropOverlayInteractV1 "OfxImageEffectPluginPropOverlayInteractV1"
/** Needs (1), prefers (2) or does not need (0) frames in order. */
#define kOfxImageEffectInstancePropSequentialRender "OfxImageEffectInstancePropSequentialRender"

/** Host: 1 for a render-only (background) host. */
#define kOfxImageEffectHostPropIsBackground "OfxImageEffectHostPropIsBackground"
/** Host: whether overlays are drawn (int). */
#define kOfxImageEffectPropSupportsOverlays "OfxImageEffectPropSupportsOverlays"
/** Host: whether the output frame rate may be changed (int). */
#define kOfxImageEffectPropSetableFrameRate "OfxImageEffectPropSetableFrameRate"
/** Host: whether the output fielding may be changed (int). */
#define kOfxImageEffectPropSetableFielding "OfxImageEffectPropSetableFielding"
/** Host: where its user interface puts 0,0 (kOfxHostNativeOrigin*). */
#define kOfxImageEffectHostPropNativeOrigin "OfxImageEffectHostPropNativeOrigin"
/* These values start with "k" in the specification. */
#define kOfxHostNativeOriginBottomLeft "kOfxImageEffectHostPropNativeOriginBottomLeft"
#define kOfxHostNativeOriginTopLeft "kOfxImageEffectHostPropNativeOriginTopLeft"
#define kOfxHostNativeOriginCenter "kOfxImageEffectHostPropNativeOriginCenter"

/* ------------------------------------------------------------------------ */
/* Effect instance properties                                                */
/* ------------------------------------------------------------------------ */

/** The context this instance was created in (string). */
#define kOfxImageEffectPropContext "OfxImageEffectPropContext"
/** The descriptor handle from Describe (pointer). */
#define kOfxImageEffectPropPluginHandle "OfxImageEffectPropPluginHandle"
/** Project size in canonical coordinates (double x 2). */
#define kOfxImageEffectPropProjectSize "OfxImageEffectPropProjectSize"
/** Project offset in canonical coordinates (double x 2). */
#define kOfxImageEffectPropProjectOffset "OfxImageEffectPropProjectOffset"
/** Project extent in canonical coordinates (double x 2). */
#define kOfxImageEffectPropProjectExtent "OfxImageEffectPropProjectExtent"
/** Project pixel aspect ratio (double). The value is not the macro name. */
#define kOfxImageEffectPropProjectPixelAspectRatio "OfxImageEffectPropPixelAspectRatio"
/** Duration of the effect, in frames (double). */
#define kOfxImageEffectInstancePropEffectDuration "OfxImageEffectInstancePropEffectDuration"

/* ------------------------------------------------------------------------ */
/* Clip properties                                                           */
/* ------------------------------------------------------------------------ */

/** Clip descriptor: the clip may be left unconnected (int, default 0). */
#define kOfxImageClipPropOptional "OfxImageClipPropOptional"
/** Clip descriptor: the clip is a mask input (int, default 0). */
#define kOfxImageClipPropIsMask "OfxImageClipPropIsMask"
/** Clip instance: whether something is connected (int). */
#define kOfxImageClipPropConnected "OfxImageClipPropConnected"
/** Clip or image: pixel depth after clip preferences (kOfxBitDepth*). */
#define kOfxImageEffectPropPixelDepth "OfxImageEffectPropPixelDepth"
/** Clip or image: components after clip preferences. */
#define kOfxImageEffectPropComponents "OfxImageEffectPropComponents"
/** Clip: depth before clip preferences. */
#define kOfxImageClipPropUnmappedPixelDepth "OfxImageClipPropUnmappedPixelDepth"
/** Clip: components before clip preferences. */
#define kOfxImageClipPropUnmappedComponents "OfxImageClipPropUnmappedComponents"
/** Clip, image, clip-preferences out arg: premultiplication state. */
#define kOfxImageEffectPropPreMultiplication "OfxImageEffectPropPreMultiplication"
/** Clip, instance, clip-preferences out arg: frames per second (double). */
#define kOfxImageEffectPropFrameRate "OfxImageEffectPropFrameRate"
/** Clip: frame rate before clip preferences (double). */
#define kOfxImageEffectPropUnmappedFrameRate "OfxImageEffectPropUnmappedFrameRate"
/** Clip: first and last frame (double x 2); also the time-domain out arg
    and the sequence-render in arg. */
#define kOfxImageEffectPropFrameRange "OfxImageEffectPropFrameRange"
/** Clip: frame range before clip preferences (double x 2). */
#define kOfxImageEffectPropUnmappedFrameRange "OfxImageEffectPropUnmappedFrameRange"
/** Clip: which field comes first (kOfxImageField*). */
#define kOfxImageClipPropFieldOrder "OfxImageClipPropFieldOrder"
/** Clip descriptor: how fielded images are fetched. */
#define kOfxImageClipPropFieldExtraction "OfxImageClipPropFieldExtraction"
/** Clip, clip-preferences out arg: sampled at any time (int). */
#define kOfxImageClipPropContinuousSamples "OfxImageClipPropContinuousSamples"
/** Clip-preferences out arg: output changes every frame even with constant
    inputs and parameters (int, default 0). */
#define kOfxImageEffectFrameVarying "OfxImageEffectFrameVarying"

/* ------------------------------------------------------------------------ */
/* Image properties                                                          */
/* ------------------------------------------------------------------------ */

/** Pointer to the bottom-left pixel of the bounds. */
#define kOfxImagePropData "OfxImagePropData"
/** Addressable pixels, x1 y1 x2 y2 in pixel coordinates (int x 4). */
#define kOfxImagePropBounds "OfxImagePropBounds"
/** Full image region, x1 y1 x2 y2 in pixel coordinates (int x 4). */
#define kOfxImagePropRegionOfDefinition "OfxImagePropRegionOfDefinition"
/** Bytes from one row to the next; may be negative (int). */
#define kOfxImagePropRowBytes "OfxImagePropRowBytes"
/** Pixel aspect ratio of a clip or image (double). */
#define kOfxImagePropPixelAspectRatio "OfxImagePropPixelAspectRatio"
/** Which fields the image holds (kOfxImageField*). */
#define kOfxImagePropField "OfxImagePropField"
/** Host-chosen identifier of the image contents (string). */
#define kOfxImagePropUniqueIdentifier "OfxImagePropUniqueIdentifier"

/* ------------------------------------------------------------------------ */
/* Action arguments                                                          */
/* ------------------------------------------------------------------------ */

/** Proxy scale applied to images (double x 2). */
#define kOfxImageEffectPropRenderScale "OfxImageEffectPropRenderScale"
/** Area to render, x1 y1 x2 y2 in pixel coordinates (int x 4). */
#define kOfxImageEffectPropRenderWindow "OfxImageEffectPropRenderWindow"
/** Field being rendered (kOfxImageField*). */
#define kOfxImageEffectPropFieldToRender "OfxImageEffectPropFieldToRender"
/** RoD out arg, x1 y1 x2 y2 in canonical coordinates (double x 4). */
#define kOfxImageEffectPropRegionOfDefinition "OfxImageEffectPropRegionOfDefinition"
/** RoI in arg, x1 y1 x2 y2 in canonical coordinates (double x 4). */
#define kOfxImageEffectPropRegionOfInterest "OfxImageEffectPropRegionOfInterest"
/** Frame step of a sequence render (double). */
#define kOfxImageEffectPropFrameStep "OfxImageEffectPropFrameStep"
/** Whether frames are being rendered in order on one instance (int). */
#define kOfxImageEffectPropSequentialRenderStatus "OfxImageEffectPropSequentialRenderStatus"
/** Whether the render answers an interactive edit (int). */
#define kOfxImageEffectPropInteractiveRenderStatus "OfxImageEffectPropInteractiveRenderStatus"
/** Host and render in arg: draft quality allowed (int). */
#define kOfxImageEffectPropRenderQualityDraft "OfxImageEffectPropRenderQualityDraft"
/** Descriptor: each output pixel depends only on the same input pixel, so
    the host may bake the effect into a LUT ("false"/"true"). Began as a
    DaVinci Resolve extension. */
#define kOfxImageEffectPropNoSpatialAwareness "OfxImageEffectPropNoSpatialAwareness"

/* ------------------------------------------------------------------------ */
/* The suite                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct OfxImageEffectSuiteV1 {
  /** Properties of an effect descriptor or instance. */
  OfxStatus (*getPropertySet)(OfxImageEffectHandle imageEffect,
                              OfxPropertySetHandle *propHandle);
  /** Parameters of an effect descriptor or instance. */
  OfxStatus (*getParamSet)(OfxImageEffectHandle imageEffect,
                           OfxParamSetHandle *paramSet);
  /** Describe-in-context only: declares a clip. */
  OfxStatus (*clipDefine)(OfxImageEffectHandle imageEffect, const char *name,
                          OfxPropertySetHandle *propertySet);
  /** Instance only: the clip of that name; propertySet may be NULL. */
  OfxStatus (*clipGetHandle)(OfxImageEffectHandle imageEffect,
                             const char *name, OfxImageClipHandle *clip,
                             OfxPropertySetHandle *propertySet);
  OfxStatus (*clipGetPropertySet)(OfxImageClipHandle clip,
                                  OfxPropertySetHandle *propHandle);
  /** Fetches an image (release it before the action returns). region, in
      canonical coordinates, may be NULL for the region of interest. */
  OfxStatus (*clipGetImage)(OfxImageClipHandle clip, OfxTime time,
                            const OfxRectD *region,
                            OfxPropertySetHandle *imageHandle);
  OfxStatus (*clipReleaseImage)(OfxPropertySetHandle imageHandle);
  /** Region of definition of a clip at a time, canonical coordinates. */
  OfxStatus (*clipGetRegionOfDefinition)(OfxImageClipHandle clip,
                                         OfxTime time, OfxRectD *bounds);
  /** Non-zero when the host wants the current render to stop. */
  int (*abort)(OfxImageEffectHandle imageEffect);
  /** Image-pool allocation; instanceHandle may be NULL. */
  OfxStatus (*imageMemoryAlloc)(OfxImageEffectHandle instanceHandle,
                                size_t nBytes,
                                OfxImageMemoryHandle *memoryHandle);
  OfxStatus (*imageMemoryFree)(OfxImageMemoryHandle memoryHandle);
  /** Locks (nesting) and returns a 16-byte aligned pointer. */
  OfxStatus (*imageMemoryLock)(OfxImageMemoryHandle memoryHandle,
                               void **returnedPtr);
  OfxStatus (*imageMemoryUnlock)(OfxImageMemoryHandle memoryHandle);
} OfxImageEffectSuiteV1;

/** Image effect status: an image format the effect cannot handle. */
#define kOfxStatErrImageFormat 1000

#ifdef __cplusplus
}
#endif

#endif /* PROMPTREEL_OFX_IMAGE_EFFECT_H */
