/*
 * A minimal OpenFX "host" used as a smoke test of a plug-in binary.
 *
 * It loads the binary named on the command line, lists what it reports,
 * hands it a host whose fetchSuite knows no suite, and sends the Load and
 * Unload actions. A plug-in must survive all of this without crashing: it
 * should answer Load with an error status (it has no suites), not abort.
 *
 * Usage: smoke PLUGIN_BINARY [--set-host]
 *   --set-host  also call the optional 1.5 entry point OfxSetHost first,
 *               as newer hosts do (older hosts never call it).
 *
 * Output is one "key=value" per line so a test can parse it. Exit status:
 * 0 when every call could be made, 1 on a usage error, 2 when the binary
 * cannot be loaded or lacks a required symbol, 3 when what it reports is
 * malformed (no plug-in, NULL fields).
 *
 * Build: cc -std=c99 -Wall -Werror -I ofx-sys/include smoke.c -ldl
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "promptreel_ofx/ofx.h"

/* Completing the opaque type lets us pass a real, non-NULL host handle. */
struct OfxPropertySetStruct {
  int unused;
};

static struct OfxPropertySetStruct fake_host_properties;
static int fetch_suite_calls;

/* Knows no suite: records the request and answers NULL. */
static const void *fetch_no_suite(OfxPropertySetHandle host,
                                  const char *suiteName, int suiteVersion) {
  ++fetch_suite_calls;
  printf("fetchSuite=%s v%d host_ok=%d -> NULL\n",
         suiteName ? suiteName : "(null)", suiteVersion,
         host == &fake_host_properties);
  return NULL;
}

static OfxHost fake_host = {&fake_host_properties, fetch_no_suite};

static const char *status_name(OfxStatus status) {
  switch (status) {
  case kOfxStatOK: return "kOfxStatOK";
  case kOfxStatFailed: return "kOfxStatFailed";
  case kOfxStatErrFatal: return "kOfxStatErrFatal";
  case kOfxStatErrUnknown: return "kOfxStatErrUnknown";
  case kOfxStatErrMissingHostFeature: return "kOfxStatErrMissingHostFeature";
  case kOfxStatErrUnsupported: return "kOfxStatErrUnsupported";
  case kOfxStatErrExists: return "kOfxStatErrExists";
  case kOfxStatErrFormat: return "kOfxStatErrFormat";
  case kOfxStatErrMemory: return "kOfxStatErrMemory";
  case kOfxStatErrBadHandle: return "kOfxStatErrBadHandle";
  case kOfxStatErrBadIndex: return "kOfxStatErrBadIndex";
  case kOfxStatErrValue: return "kOfxStatErrValue";
  case kOfxStatReplyYes: return "kOfxStatReplyYes";
  case kOfxStatReplyNo: return "kOfxStatReplyNo";
  case kOfxStatReplyDefault: return "kOfxStatReplyDefault";
  case kOfxStatErrImageFormat: return "kOfxStatErrImageFormat";
  default: return "unknown";
  }
}

/* Entry point types, spelled out: the specification does not name them. */
typedef int (*get_number_of_plugins_fn)(void);
typedef OfxPlugin *(*get_plugin_fn)(int nth);
typedef OfxStatus (*set_host_fn)(const OfxHost *host);

/* dlsym returns an object pointer; copy its bits into a function pointer
   the way POSIX intends, without a cast ISO C would flag. */
static int lookup(void *library, const char *name, void *fn_out,
                  size_t fn_size) {
  void *symbol = dlsym(library, name);
  if (symbol == NULL) {
    return 0;
  }
  if (fn_size != sizeof symbol) {
    return 0;
  }
  memcpy(fn_out, &symbol, fn_size);
  return 1;
}

static void print_status(const char *key, OfxStatus status) {
  printf("%s=%d %s\n", key, status, status_name(status));
}

int main(int argc, char **argv) {
  get_number_of_plugins_fn get_number_of_plugins = NULL;
  get_plugin_fn get_plugin = NULL;
  set_host_fn set_host = NULL;
  int call_set_host = 0;
  void *library;
  OfxPlugin *plugin;
  int count;

  if (argc < 2 || argc > 3 ||
      (argc == 3 && strcmp(argv[2], "--set-host") != 0)) {
    fprintf(stderr, "usage: %s PLUGIN_BINARY [--set-host]\n", argv[0]);
    return 1;
  }
  call_set_host = argc == 3;

  library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    const char *why = dlerror();
    fprintf(stderr, "dlopen failed: %s\n", why ? why : "(no reason)");
    return 2;
  }
  printf("loaded=%s\n", argv[1]);

  if (!lookup(library, "OfxGetNumberOfPlugins", &get_number_of_plugins,
              sizeof get_number_of_plugins) ||
      !lookup(library, "OfxGetPlugin", &get_plugin, sizeof get_plugin)) {
    fprintf(stderr, "missing OfxGetNumberOfPlugins or OfxGetPlugin\n");
    dlclose(library);
    return 2;
  }
  printf("OfxSetHost_exported=%d\n",
         lookup(library, "OfxSetHost", &set_host, sizeof set_host));

  if (call_set_host && set_host != NULL) {
    print_status("OfxSetHost_status", set_host(&fake_host));
  }

  count = get_number_of_plugins();
  printf("number_of_plugins=%d\n", count);
  if (count < 1) {
    dlclose(library);
    return 3;
  }

  plugin = get_plugin(0);
  if (plugin == NULL || plugin->pluginApi == NULL ||
      plugin->pluginIdentifier == NULL || plugin->setHost == NULL ||
      plugin->mainEntry == NULL) {
    fprintf(stderr, "plugin 0 is NULL or has NULL members\n");
    dlclose(library);
    return 3;
  }
  printf("pluginApi=%s\n", plugin->pluginApi);
  printf("apiVersion=%d\n", plugin->apiVersion);
  printf("pluginIdentifier=%s\n", plugin->pluginIdentifier);
  printf("pluginVersion=%u.%u\n", plugin->pluginVersionMajor,
         plugin->pluginVersionMinor);
  printf("is_image_effect=%d\n",
         strcmp(plugin->pluginApi, kOfxImageEffectPluginApi) == 0 &&
             plugin->apiVersion == kOfxImageEffectPluginApiVersion);

  plugin->setHost(&fake_host);
  print_status("load_status", plugin->mainEntry(kOfxActionLoad, NULL, NULL, NULL));
  print_status("unload_status",
               plugin->mainEntry(kOfxActionUnload, NULL, NULL, NULL));
  printf("fetch_suite_calls=%d\n", fetch_suite_calls);

  dlclose(library);
  printf("done=1\n");
  return 0;
}
