/*
 * Property suite, version 1: typed get/set access to the property sets that
 * describe hosts, effects, clips, images, parameters and action arguments.
 * Multi-dimensional properties are addressed by index (or set/read whole
 * with the *N variants).
 */
#ifndef PROMPTREEL_OFX_PROPERTY_H
#define PROMPTREEL_OFX_PROPERTY_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Name to pass to fetchSuite (version 1). */
#define kOfxPropertySuite "OfxPropertySuite"

/** Function order is ABI: setters, N-setters, getters, N-getters, reset,
    dimension. Strings returned by the getters belong to the host. */
typedef struct OfxPropertySuiteV1 {
  OfxStatus (*propSetPointer)(OfxPropertySetHandle properties,
                              const char *property, int index, void *value);
  OfxStatus (*propSetString)(OfxPropertySetHandle properties,
                             const char *property, int index,
                             const char *value);
  OfxStatus (*propSetDouble)(OfxPropertySetHandle properties,
                             const char *property, int index, double value);
  OfxStatus (*propSetInt)(OfxPropertySetHandle properties,
                          const char *property, int index, int value);

  OfxStatus (*propSetPointerN)(OfxPropertySetHandle properties,
                               const char *property, int count,
                               void *const *value);
  OfxStatus (*propSetStringN)(OfxPropertySetHandle properties,
                              const char *property, int count,
                              const char *const *value);
  OfxStatus (*propSetDoubleN)(OfxPropertySetHandle properties,
                              const char *property, int count,
                              const double *value);
  OfxStatus (*propSetIntN)(OfxPropertySetHandle properties,
                           const char *property, int count, const int *value);

  OfxStatus (*propGetPointer)(OfxPropertySetHandle properties,
                              const char *property, int index, void **value);
  OfxStatus (*propGetString)(OfxPropertySetHandle properties,
                             const char *property, int index, char **value);
  OfxStatus (*propGetDouble)(OfxPropertySetHandle properties,
                             const char *property, int index, double *value);
  OfxStatus (*propGetInt)(OfxPropertySetHandle properties,
                          const char *property, int index, int *value);

  OfxStatus (*propGetPointerN)(OfxPropertySetHandle properties,
                               const char *property, int count, void **value);
  OfxStatus (*propGetStringN)(OfxPropertySetHandle properties,
                              const char *property, int count, char **value);
  OfxStatus (*propGetDoubleN)(OfxPropertySetHandle properties,
                              const char *property, int count, double *value);
  OfxStatus (*propGetIntN)(OfxPropertySetHandle properties,
                           const char *property, int count, int *value);

  /** Restores every dimension of a property to its default. */
  OfxStatus (*propReset)(OfxPropertySetHandle properties,
                         const char *property);
  /** Number of values the property currently holds. */
  OfxStatus (*propGetDimension)(OfxPropertySetHandle properties,
                                const char *property, int *count);
} OfxPropertySuiteV1;

#ifdef __cplusplus
}
#endif

#endif /* PROMPTREEL_OFX_PROPERTY_H */
