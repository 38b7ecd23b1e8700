/*
 * Colour management (1.5). Host and effect each advertise the styles they
 * handle; the host picks one and sets it on the instance, then labels clips
 * with colourspaces. An effect may state preferred input colourspaces in
 * GetClipPreferences and names its output colourspace in
 * GetOutputColourspace.
 */
#ifndef PROMPTREEL_OFX_COLOUR_H
#define PROMPTREEL_OFX_COLOUR_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Host, descriptor (highest style supported) and instance (style chosen):
    one of kOfxImageEffectColourManagement*. */
#define kOfxImageEffectPropColourManagementStyle "OfxImageEffectPropColourManagementStyle"
#define kOfxImageEffectColourManagementNone "OfxImageEffectColourManagementNone"
#define kOfxImageEffectColourManagementBasic "OfxImageEffectColourManagementBasic"
#define kOfxImageEffectColourManagementCore "OfxImageEffectColourManagementCore"
#define kOfxImageEffectColourManagementFull "OfxImageEffectColourManagementFull"
#define kOfxImageEffectColourManagementOCIO "OfxImageEffectColourManagementOCIO"

/** Host and descriptor: native configs known (string x N). */
#define kOfxImageEffectPropColourManagementAvailableConfigs "OfxImageEffectPropColourManagementAvailableConfigs"
/** Instance: the native config in use (string). */
#define kOfxImageEffectPropColourManagementConfig "OfxImageEffectPropColourManagementConfig"
/** Instance, OCIO style: path or ocio:// URI of the config (string). */
#define kOfxImageEffectPropOCIOConfig "OfxImageEffectPropOCIOConfig"
/** Clip: the colourspace its images are in (string). */
#define kOfxImageClipPropColourspace "OfxImageClipPropColourspace"
/** Clip and clip-preferences out arg: wanted colourspaces, best first
    (string x N). */
#define kOfxImageClipPropPreferredColourspaces "OfxImageClipPropPreferredColourspaces"
/** Instance: colourspace of the host's viewer (string). */
#define kOfxImageEffectPropDisplayColourspace "OfxImageEffectPropDisplayColourspace"
#define kOfxImageEffectPropOCIODisplay "OfxImageEffectPropOCIODisplay"
#define kOfxImageEffectPropOCIOView "OfxImageEffectPropOCIOView"

/** inArgs: kOfxImageClipPropPreferredColourspaces (the host's wishes).
    outArgs: kOfxImageClipPropColourspace of the output clip. */
#define kOfxImageEffectActionGetOutputColourspace "OfxImageEffectActionGetOutputColourspace"

/** Prefix for a colourspace that refers to another clip's, e.g.
    "OfxColourspace_Source". The specification gives it in prose only. */
#define PROMPTREEL_OFX_COLOURSPACE_CLIP_PREFIX "OfxColourspace_"

/* From the 1.5 native config (ofx-native-v1.5_aces-v1.3_ocio-v2.3). */

/** The config identifier, for kOfxImageEffectPropColourManagementAvailableConfigs. */
#define kOfxConfigIdentifier "ofx-native-v1.5_aces-v1.3_ocio-v2.3"
/* Basic colourspaces: generic names, the host picks a matching space. */
#define kOfxColourspaceOfxDisplayHdr "ofx_display_hdr"
#define kOfxColourspaceOfxDisplaySdr "ofx_display_sdr"
#define kOfxColourspaceOfxRaw "ofx_raw"
#define kOfxColourspaceOfxSceneLinear "ofx_scene_linear"
#define kOfxColourspaceOfxSceneLog "ofx_scene_log"
/* A few core colourspaces. */
#define kOfxColourspaceSrgbDisplay "srgb_display"
#define kOfxColourspaceRec1886Rec709Display "rec1886_rec709_display"
#define kOfxColourspaceLinRec709Srgb "lin_rec709_srgb"
#define kOfxColourspaceACEScg "ACEScg"

#ifdef __cplusplus
}
#endif

#endif /* PROMPTREEL_OFX_COLOUR_H */
