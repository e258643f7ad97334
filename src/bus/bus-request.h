/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading Verify/DeployRegions arguments: the a(tv) region list (a path opened
 * with the caller's credentials, or a passed fd) and the a{sv} options, each
 * failure answered with its named error. Translation only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

#include "esp-loader.h"
#include "image.h"
#include "job.h"

/* How long opening one region path may take (bus-open.c). */
#define BUS_OPEN_TIMEOUT_SEC 5u

typedef struct BusRegionSource {
        uint64_t offset;
        char *path;     /* a path to open as the caller, or NULL */
        int fd;         /* a dup of a passed fd, or -EBADF */
} BusRegionSource;

typedef struct BusRegionList {
        BusRegionSource *items;
        size_t n;
} BusRegionList;

void bus_region_list_done(BusRegionList *l);

/* Reads a(tv): offsets must fit 32 bits, sources be "s" (absolute path) or "h".
 * Opens nothing yet except dup'ing passed fds. */
int bus_message_read_regions(sd_bus_message *m, BusRegionList *ret, sd_bus_error *error);
/* Why a region path could not be opened as uid (user_open_receive()'s errors,
 * -ETIMEDOUT for an opener that took too long), as a named error; < 0. */
int bus_error_set_open_failure(sd_bus_error *error, const char *path, uid_t uid, int r);
/* image_validate() with its errors named and explained. */
int bus_image_validate(Image *img, uint64_t flash_size, sd_bus_error *error);

typedef struct BusJobOptions {
        int trust;                      /* -1: the service default */
        bool reset_before_default;      /* "before": "default" → by device kind */
        bool baud_default;              /* no "baud": by device kind and BridgeBaud= */
        bool granularity_default;       /* no "granularity": Granularity= */
        bool loader_default;            /* no "loader": Loader= */
        bool force;                     /* "force": deploy even if another process holds the port */
        JobOptions job;                 /* everything else, resolved; job.stub_json is owned */
} BusJobOptions;

/* Reads a{sv}: "trust" b, "chip" s, "baud" u, "before" s, "after" s,
 * "granularity" s, "loader" s, "stub" h (a regular file holding an esptool
 * JSON flasher stub, read at once and checked: bounded, parsed), "force" b.
 * Unknown keys, wrong types and bad values → InvalidOptions. */
int bus_message_read_options(sd_bus_message *m, BusJobOptions *ret, sd_bus_error *error);
void bus_job_options_done(BusJobOptions *o);
