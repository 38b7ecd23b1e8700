/*
 * Parameter suite, version 1, with the parameter types and properties.
 * Parameters are defined on a parameter set during describe-in-context and
 * read back (usually at a time) on instances.
 */
#ifndef PROMPTREEL_OFX_PARAM_H
#define PROMPTREEL_OFX_PARAM_H

#include "core.h"
#include "property.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Name to pass to fetchSuite (version 1). */
#define kOfxParameterSuite "OfxParameterSuite"

/* kOfxPropType values of parameter handles. */
#define kOfxTypeParameter "OfxTypeParameter"
#define kOfxTypeParameterInstance "OfxTypeParameterInstance"

/** Opaque handle to one parameter. */
typedef struct OfxParamStruct *OfxParamHandle;
/** Opaque handle to the parameters of an effect (descriptor or instance). */
typedef struct OfxParamSetStruct *OfxParamSetHandle;

/* ------------------------------------------------------------------------ */
/* Parameter types (the paramType argument of paramDefine)                   */
/* ------------------------------------------------------------------------ */

/** One int. */
#define kOfxParamTypeInteger "OfxParamTypeInteger"
/** One double. */
#define kOfxParamTypeDouble "OfxParamTypeDouble"
/** One int, 0 or 1. */
#define kOfxParamTypeBoolean "OfxParamTypeBoolean"
/** Menu whose value is the int index of the chosen option. */
#define kOfxParamTypeChoice "OfxParamTypeChoice"
/** Menu whose value is the string enum of the chosen option (1.5). */
#define kOfxParamTypeStrChoice "OfxParamTypeStrChoice"
/** Four doubles: red, green, blue, alpha. */
#define kOfxParamTypeRGBA "OfxParamTypeRGBA"
/** Three doubles: red, green, blue. */
#define kOfxParamTypeRGB "OfxParamTypeRGB"
#define kOfxParamTypeDouble2D "OfxParamTypeDouble2D"
#define kOfxParamTypeInteger2D "OfxParamTypeInteger2D"
#define kOfxParamTypeDouble3D "OfxParamTypeDouble3D"
#define kOfxParamTypeInteger3D "OfxParamTypeInteger3D"
/** A UTF-8 string; see kOfxParamPropStringMode. */
#define kOfxParamTypeString "OfxParamTypeString"
/** A plug-in encoded string value. */
#define kOfxParamTypeCustom "OfxParamTypeCustom"
/** Groups other parameters in a hierarchical layout. */
#define kOfxParamTypeGroup "OfxParamTypeGroup"
/** A page of a paged layout. */
#define kOfxParamTypePage "OfxParamTypePage"
/** A button; pressing it sends InstanceChanged, it has no value. */
#define kOfxParamTypePushButton "OfxParamTypePushButton"

/* ------------------------------------------------------------------------ */
/* Host properties about parameters                                          */
/* ------------------------------------------------------------------------ */

#define kOfxParamHostPropSupportsCustomAnimation "OfxParamHostPropSupportsCustomAnimation"
#define kOfxParamHostPropSupportsStringAnimation "OfxParamHostPropSupportsStringAnimation"
#define kOfxParamHostPropSupportsBooleanAnimation "OfxParamHostPropSupportsBooleanAnimation"
#define kOfxParamHostPropSupportsChoiceAnimation "OfxParamHostPropSupportsChoiceAnimation"
/** 1.5: whether the host knows kOfxParamTypeStrChoice. */
#define kOfxParamHostPropSupportsStrChoice "OfxParamHostPropSupportsStrChoice"
#define kOfxParamHostPropSupportsStrChoiceAnimation "OfxParamHostPropSupportsStrChoiceAnimation"
#define kOfxParamHostPropSupportsCustomInteract "OfxParamHostPropSupportsCustomInteract"
/** -1 for unlimited. */
#define kOfxParamHostPropMaxParameters "OfxParamHostPropMaxParameters"
/** -1 for unlimited, 0 when the host has no paged layout. */
#define kOfxParamHostPropMaxPages "OfxParamHostPropMaxPages"
/** Columns, rows per page (int x 2). */
#define kOfxParamHostPropPageRowColumnCount "OfxParamHostPropPageRowColumnCount"

/* Pseudo parameter names usable in kOfxParamPropPageChild. */
#define kOfxParamPageSkipRow "OfxParamPageSkipRow"
#define kOfxParamPageSkipColumn "OfxParamPageSkipColumn"

/* ------------------------------------------------------------------------ */
/* Parameter properties                                                      */
/* ------------------------------------------------------------------------ */

/** The type the parameter was defined with (string, read only). */
#define kOfxParamPropType "OfxParamPropType"
/** Whether the value can be keyframed (int, default 1). */
#define kOfxParamPropAnimates "OfxParamPropAnimates"
/** Whether changes go on the undo stack (int, default 1). */
#define kOfxParamPropCanUndo "OfxParamPropCanUndo"
/** Instance: whether the value varies over time (int, read only). */
#define kOfxParamPropIsAnimating "OfxParamPropIsAnimating"
/** Instance: whether the host is auto-keying (int, read only). */
#define kOfxParamPropIsAutoKeying "OfxParamPropIsAutoKeying"
/** Deprecated in 1.4. */
#define kOfxParamPropPluginMayWrite "OfxParamPropPluginMayWrite"
/** Whether the value is saved with the project (int, default 1). The
    misspelling is the specification's. */
#define kOfxParamPropPersistant "OfxParamPropPersistant"
/** Whether a change triggers a re-render (int, default 1). */
#define kOfxParamPropEvaluateOnChange "OfxParamPropEvaluateOnChange"
/** Hidden from the user interface (int, default 0). */
#define kOfxParamPropSecret "OfxParamPropSecret"
/** Name used by host scripting (ASCII string, default: the param name). */
#define kOfxParamPropScriptName "OfxParamPropScriptName"
/** Which cached frames a change invalidates (kOfxParamInvalidate*). */
#define kOfxParamPropCacheInvalidation "OfxParamPropCacheInvalidation"
#define kOfxParamInvalidateValueChange "OfxParamInvalidateValueChange"
#define kOfxParamInvalidateValueChangeToEnd "OfxParamInvalidateValueChangeToEnd"
#define kOfxParamInvalidateAll "OfxParamInvalidateAll"
/** Tooltip text (UTF-8 string). */
#define kOfxParamPropHint "OfxParamPropHint"
/** Default value; type and dimension follow the parameter type. */
#define kOfxParamPropDefault "OfxParamPropDefault"
/** Whether the user may edit the value (int, default 1). */
#define kOfxParamPropEnabled "OfxParamPropEnabled"
/** Instance: a pointer the plug-in may hang its own data on. */
#define kOfxParamPropDataPtr "OfxParamPropDataPtr"
/** Name of the group parameter this one sits in ("" for the root). */
#define kOfxParamPropParent "OfxParamPropParent"
/** Group: whether it starts open (int, default 1). */
#define kOfxParamPropGroupOpen "OfxParamPropGroupOpen"
/** Page: names of the parameters on it (string x N). */
#define kOfxParamPropPageChild "OfxParamPropPageChild"
/** Effect: preferred order of the page parameters (string x N). */
#define kOfxPluginPropParamPageOrder "OfxPluginPropParamPageOrder"
/** Param set: 1 while private data is not yet written to parameters. */
#define kOfxPropParamSetNeedsSyncing "OfxPropParamSetNeedsSyncing"

/* Numeric parameters. */

/** Hard lower bound (int or double x N); also resets the display min. */
#define kOfxParamPropMin "OfxParamPropMin"
/** Hard upper bound (int or double x N); also resets the display max. */
#define kOfxParamPropMax "OfxParamPropMax"
/** Slider lower bound (int or double x N). */
#define kOfxParamPropDisplayMin "OfxParamPropDisplayMin"
/** Slider upper bound (int or double x N). */
#define kOfxParamPropDisplayMax "OfxParamPropDisplayMax"
/** Slider step (double, default 1). */
#define kOfxParamPropIncrement "OfxParamPropIncrement"
/** Decimal places shown (int, default 2). */
#define kOfxParamPropDigits "OfxParamPropDigits"
/** Label of one dimension of a 2D/3D parameter. */
#define kOfxParamPropDimensionLabel "OfxParamPropDimensionLabel"
/** Interpretation of a double parameter (kOfxParamDoubleType*). */
#define kOfxParamPropDoubleType "OfxParamPropDoubleType"
#define kOfxParamDoubleTypePlain "OfxParamDoubleTypePlain"
#define kOfxParamDoubleTypeScale "OfxParamDoubleTypeScale"
#define kOfxParamDoubleTypeAngle "OfxParamDoubleTypeAngle"
#define kOfxParamDoubleTypeTime "OfxParamDoubleTypeTime"
#define kOfxParamDoubleTypeAbsoluteTime "OfxParamDoubleTypeAbsoluteTime"
#define kOfxParamDoubleTypeX "OfxParamDoubleTypeX"
#define kOfxParamDoubleTypeY "OfxParamDoubleTypeY"
#define kOfxParamDoubleTypeXAbsolute "OfxParamDoubleTypeXAbsolute"
#define kOfxParamDoubleTypeYAbsolute "OfxParamDoubleTypeYAbsolute"
#define kOfxParamDoubleTypeXY "OfxParamDoubleTypeXY"
#define kOfxParamDoubleTypeXYAbsolute "OfxParamDoubleTypeXYAbsolute"
/** Coordinate system of a spatial default (kOfxParamCoordinates*). */
#define kOfxParamPropDefaultCoordinateSystem "OfxParamPropDefaultCoordinateSystem"
#define kOfxParamCoordinatesCanonical "OfxParamCoordinatesCanonical"
#define kOfxParamCoordinatesNormalised "OfxParamCoordinatesNormalised"
/** Absolute-time doubles: show a marker on the host time line. */
#define kOfxParamPropShowTimeMarker "OfxParamPropShowTimeMarker"

/* Choice and string-choice parameters. */

/** Labels of the options, in index order (UTF-8 string x N). */
#define kOfxParamPropChoiceOption "OfxParamPropChoiceOption"
/** 1.5: display order of the options (int x N); stored values unchanged. */
#define kOfxParamPropChoiceOrder "OfxParamPropChoiceOrder"
/** 1.5, StrChoice only: the stored string of each option (string x N). */
#define kOfxParamPropChoiceEnum "OfxParamPropChoiceEnum"

/* String parameters. */

/** Kind of string parameter (kOfxParamStringIs*). */
#define kOfxParamPropStringMode "OfxParamPropStringMode"
/** File/directory modes: whether the path must already exist (default 1). */
#define kOfxParamPropStringFilePathExists "OfxParamPropStringFilePathExists"
#define kOfxParamStringIsSingleLine "OfxParamStringIsSingleLine"
#define kOfxParamStringIsMultiLine "OfxParamStringIsMultiLine"
#define kOfxParamStringIsFilePath "OfxParamStringIsFilePath"
#define kOfxParamStringIsDirectoryPath "OfxParamStringIsDirectoryPath"
#define kOfxParamStringIsLabel "OfxParamStringIsLabel"
#define kOfxParamStringIsRichTextFormat "OfxParamStringIsRichTextFormat"

/* Custom interfaces and host overlay handles. */

/** Entry point of an interact replacing the parameter's widget. */
#define kOfxParamPropInteractV1 "OfxParamPropInteractV1"
#define kOfxParamPropInteractSize "OfxParamPropInteractSize"
#define kOfxParamPropInteractSizeAspect "OfxParamPropInteractSizeAspect"
#define kOfxParamPropInteractMinimumSize "OfxParamPropInteractMinimumSize"
/** The misspelling is the specification's. */
#define kOfxParamPropInteractPreferedSize "OfxParamPropInteractPreferedSize"
#define kOfxParamPropHasHostOverlayHandle "OfxParamPropHasHostOverlayHandle"
/** Note: this value does start with a 'k' in the specification. */
#define kOfxParamPropUseHostOverlayHandle "kOfxParamPropUseHostOverlayHandle"

/* Custom parameter interpolation. */

/** Pointer to an OfxCustomParamInterpFuncV1. The value differs from the
    macro name in the specification. */
#define kOfxParamPropCustomInterpCallbackV1 "OfxParamPropCustomCallbackV1"
#define kOfxParamPropCustomValue "OfxParamPropCustomValue"
#define kOfxParamPropInterpolationTime "OfxParamPropInterpolationTime"
#define kOfxParamPropInterpolationAmount "OfxParamPropInterpolationAmount"

/** Interpolates a custom parameter between two keys. */
typedef OfxStatus(OfxCustomParamInterpFuncV1)(OfxParamSetHandle instance,
                                              OfxPropertySetHandle inArgs,
                                              OfxPropertySetHandle outArgs);

/* ------------------------------------------------------------------------ */
/* The suite                                                                 */
/* ------------------------------------------------------------------------ */

/** Value accessors are variadic: pass one pointer (get) or value (set) per
    dimension, of the parameter's C type (int, double, or char* for string
    types; getters of strings receive a const char**). */
typedef struct OfxParameterSuiteV1 {
  /** Describe time: declares a parameter; propertySet may be NULL. */
  OfxStatus (*paramDefine)(OfxParamSetHandle paramSet, const char *paramType,
                           const char *name,
                           OfxPropertySetHandle *propertySet);
  /** Instance: looks a parameter up by name; propertySet may be NULL. */
  OfxStatus (*paramGetHandle)(OfxParamSetHandle paramSet, const char *name,
                              OfxParamHandle *param,
                              OfxPropertySetHandle *propertySet);
  /** Properties of the parameter set itself (the effect's). */
  OfxStatus (*paramSetGetPropertySet)(OfxParamSetHandle paramSet,
                                      OfxPropertySetHandle *propHandle);
  /** Properties of one parameter. */
  OfxStatus (*paramGetPropertySet)(OfxParamHandle param,
                                   OfxPropertySetHandle *propHandle);
  /** Current value; not for render-time use. */
  OfxStatus (*paramGetValue)(OfxParamHandle paramHandle, ...);
  /** Value at a time; what render actions should use. */
  OfxStatus (*paramGetValueAtTime)(OfxParamHandle paramHandle, OfxTime time,
                                   ...);
  /** Derivative at a time (double and colour types). */
  OfxStatus (*paramGetDerivative)(OfxParamHandle paramHandle, OfxTime time,
                                  ...);
  /** Integral over [time1, time2] (double and colour types). */
  OfxStatus (*paramGetIntegral)(OfxParamHandle paramHandle, OfxTime time1,
                                OfxTime time2, ...);
  /** Sets the current value (InstanceChanged or interacts only). */
  OfxStatus (*paramSetValue)(OfxParamHandle paramHandle, ...);
  /** Sets a keyframe at a time. */
  OfxStatus (*paramSetValueAtTime)(OfxParamHandle paramHandle, OfxTime time,
                                   ...);
  OfxStatus (*paramGetNumKeys)(OfxParamHandle paramHandle,
                               unsigned int *numberOfKeys);
  OfxStatus (*paramGetKeyTime)(OfxParamHandle paramHandle,
                               unsigned int nthKey, OfxTime *time);
  /** direction: 0 at time, > 0 next key, < 0 previous key. */
  OfxStatus (*paramGetKeyIndex)(OfxParamHandle paramHandle, OfxTime time,
                                int direction, int *index);
  OfxStatus (*paramDeleteKey)(OfxParamHandle paramHandle, OfxTime time);
  OfxStatus (*paramDeleteAllKeys)(OfxParamHandle paramHandle);
  /** Copies value and animation; frameRange may be NULL. */
  OfxStatus (*paramCopy)(OfxParamHandle paramTo, OfxParamHandle paramFrom,
                         OfxTime dstOffset, const OfxRangeD *frameRange);
  /** Opens an undo block named `name`. */
  OfxStatus (*paramEditBegin)(OfxParamSetHandle paramSet, const char *name);
  /** Closes the undo block. */
  OfxStatus (*paramEditEnd)(OfxParamSetHandle paramSet);
} OfxParameterSuiteV1;

#ifdef __cplusplus
}
#endif

#endif /* PROMPTREEL_OFX_PARAM_H */
