/*
 * Umbrella header for Promptreel's OpenFX declarations.
 *
 * Written from the OpenFX 1.5 specification: identifiers, string values,
 * integer values, struct member order and function signatures follow the
 * specification exactly because they are the ABI; the file layout and the
 * comments are Promptreel's own.
 */
#ifndef PROMPTREEL_OFX_H
#define PROMPTREEL_OFX_H

#include "core.h"
#include "property.h"
#include "param.h"
#include "image_effect.h"
#include "memory.h"
#include "multithread.h"
#include "message.h"
#include "progress.h"
#include "timeline.h"
#include "gpu_render.h"
#include "colour.h"

#endif /* PROMPTREEL_OFX_H */
