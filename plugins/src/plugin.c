/* libgstdynamicrafter.so: GStreamer finds the plugin by this file name, which must match
 * the name given to GST_PLUGIN_DEFINE. */
#include "gstdynamicrafter.h"

/* The "source module" GST_PLUGIN_DEFINE records. */
#define PACKAGE "dynamicrafter"

#ifndef DYNAMICRAFTER_VERSION
#define DYNAMICRAFTER_VERSION "0.1.0"
#endif

/* The repository grants no licence (it has no LICENSE or COPYING file, and neither
 * Package.swift nor the README names one), so all rights are reserved: "Proprietary" is
 * GStreamer's string for that. Change it together with the project's licence. */
#define DYNAMICRAFTER_LICENSE "Proprietary"

static gboolean
plugin_init (GstPlugin * plugin)
{
  return GST_ELEMENT_REGISTER (dynamicrafter, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, dynamicrafter,
    "DynamiCrafter image-to-video animation through the dynamicrafterd D-Bus service",
    plugin_init, DYNAMICRAFTER_VERSION, DYNAMICRAFTER_LICENSE, "DynamiCrafter for Linux",
    "https://github.com/Doubiiu/DynamiCrafter")
