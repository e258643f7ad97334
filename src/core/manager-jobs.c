/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Jobs as the core takes them: the options a caller left out resolved from the
 * config and the device kind, the trust key a job may record under, and the
 * queue (the scheduler) behind submit, cancel and count. */
#include <assert.h>
#include <errno.h>

#include "manager-internal.h"

/* The reset into the bootloader when the caller says "default". */
static EspResetStrategy default_reset(DeviceKind kind) {
        return kind == DEVICE_KIND_USB_SERIAL_JTAG ? ESP_RESET_USB_JTAG : ESP_RESET_CLASSIC;
}

JobOptions manager_job_options_resolve(const Config *c, DeviceKind kind, const ManagerJobOptions *o) {
        JobOptions j = o->job;

        assert(c && o);
        j.trust = o->trust >= 0 ? o->trust : c->trust;
        if (o->reset_before_default)
                j.reset_before = default_reset(kind);
        /* A bridge is wired to the chip's UART: its console is not USB-Serial-JTAG. */
        j.uart_link = kind == DEVICE_KIND_UART_BRIDGE;
        /* A faster UART only helps behind a bridge: USB-Serial-JTAG ignores the rate. */
        if (o->baud_default)
                j.baud = kind == DEVICE_KIND_UART_BRIDGE ? c->bridge_baud : 0;
        j.stub_dir = c->stub_dir[0] ? c->stub_dir : NULL;
        j.stub_search = c->stub_search[0] ? c->stub_search : NULL;
        if (o->loader_default)
                j.loader = c->loader == CONFIG_LOADER_STUB ? JOB_LOADER_STUB :
                           c->loader == CONFIG_LOADER_ROM ? JOB_LOADER_ROM : JOB_LOADER_AUTO;
        if (o->granularity_default)
                j.granularity = c->sector_granularity ? JOB_GRANULARITY_SECTOR : JOB_GRANULARITY_REGION;
        return j;
}

/* The key under which a job may record trust for the port: none for a
 * character device udev does not know (nothing watches it: no remove edge, no
 * foreign-open watch, so trust could never be proven). */
static const char *job_trust_key(const ManagerPort *p) {
        return p->kind == _DEVICE_KIND_INVALID ? NULL : p->device_id;
}

uint64_t manager_known_flash_size(Manager *m, const char *node) {
        return job_scheduler_known_flash_size(m->scheduler, node);
}

int manager_submit_job(Manager *m, JobKind kind, const ManagerPort *port, Image *img,
                       const ManagerJobOptions *o, void *job_userdata) {
        _cleanup_(image_freep) Image *owned = img;
        JobOptions options;

        assert(m && port && port->node && img && o);
        if (m->terminating)
                return -ECANCELED;
        options = manager_job_options_resolve(&m->config, port->kind, o);
        return job_scheduler_submit(m->scheduler, kind, port->node, job_trust_key(port), TAKE_PTR(owned),
                                    &options, job_userdata, NULL);
}

int manager_cancel_jobs(Manager *m, const char *node, JobMatchFn match, void *userdata) {
        assert(m && node);
        return job_scheduler_cancel_port_where(m->scheduler, node, match, userdata);
}

size_t manager_count_jobs(Manager *m, const char *node, JobMatchFn match, void *userdata) {
        return job_scheduler_count_port(m->scheduler, node, match, userdata);
}
