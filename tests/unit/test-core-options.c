/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The core's option defaults (formerly in the bus handler): what a Verify or
 * DeployRegions left out is resolved from the config and the device kind; what
 * it said stays. And the port owner's strings. Table-driven, no Manager. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "manager.h"
#include "port-owner.h"

typedef struct Vector {
        const char *name;
        DeviceKind kind;
        bool config_trust, config_sectors;
        uint32_t config_bridge_baud;
        ManagerJobOptions in;
        /* expected */
        bool trust;
        uint32_t baud;
        EspResetStrategy reset_before;
        JobGranularity granularity;
} Vector;

#define ALL_DEFAULT .trust = -1, .reset_before_default = true, .baud_default = true, .granularity_default = true

static const Vector vectors[] = {
        { "bridge: BridgeBaud=, classic reset, config trust and granularity",
          DEVICE_KIND_UART_BRIDGE, true, false, 921600, { ALL_DEFAULT },
          true, 921600, ESP_RESET_CLASSIC, JOB_GRANULARITY_REGION },
        { "USB-Serial-JTAG: its own reset, the rate stays (the bridge rate would not help)",
          DEVICE_KIND_USB_SERIAL_JTAG, true, true, 921600, { ALL_DEFAULT },
          true, 0, ESP_RESET_USB_JTAG, JOB_GRANULARITY_SECTOR },
        { "USB-OTG: classic reset, 115200",
          DEVICE_KIND_USB_OTG, false, false, 921600, { ALL_DEFAULT },
          false, 0, ESP_RESET_CLASSIC, JOB_GRANULARITY_REGION },
        { "a bare UART udev does not know: classic reset, 115200",
          _DEVICE_KIND_INVALID, true, false, 460800, { ALL_DEFAULT },
          true, 0, ESP_RESET_CLASSIC, JOB_GRANULARITY_REGION },
        { "BridgeBaud=0 keeps a bridge at 115200",
          DEVICE_KIND_UART_BRIDGE, true, false, 0, { ALL_DEFAULT },
          true, 0, ESP_RESET_CLASSIC, JOB_GRANULARITY_REGION },
        { "what the caller said wins over the config and the kind",
          DEVICE_KIND_USB_SERIAL_JTAG, true, true, 921600,
          { .trust = 0, .job = { .baud = 230400, .reset_before = ESP_RESET_NONE,
                                 .granularity = JOB_GRANULARITY_REGION, .reset_after = true } },
          false, 230400, ESP_RESET_NONE, JOB_GRANULARITY_REGION },
        { "trust asked for although the config says no",
          DEVICE_KIND_UART_BRIDGE, false, false, 921600,
          { .trust = 1, .reset_before_default = true, .baud_default = true, .granularity_default = true },
          true, 921600, ESP_RESET_CLASSIC, JOB_GRANULARITY_REGION },
};

static void test_option_defaults(void) {
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                const Vector *v = &vectors[i];
                Config c;
                JobOptions o;

                config_init(&c);
                c.trust = v->config_trust;
                c.sector_granularity = v->config_sectors;
                c.bridge_baud = v->config_bridge_baud;

                o = manager_job_options_resolve(&c, v->kind, &v->in);
                printf("%s\n", v->name);
                assert(o.trust == v->trust);
                assert(o.baud == v->baud);
                assert(o.reset_before == v->reset_before);
                assert(o.granularity == v->granularity);
                /* Untouched by the defaults. */
                assert(o.reset_after == v->in.job.reset_after);
                assert(o.stub_dir == NULL);
        }
}

static void test_stub_directory(void) {
        ManagerJobOptions in = { ALL_DEFAULT };
        Config c;
        JobOptions o;

        config_init(&c);
        strcpy(c.stub_dir, "/usr/share/esptool/stubs");
        o = manager_job_options_resolve(&c, DEVICE_KIND_UART_BRIDGE, &in);
        assert(o.stub_dir == c.stub_dir);
        /* the system's esptool is searched by default; "" searches nothing */
        assert(o.stub_search == c.stub_search && strstr(o.stub_search, "esptool/targets/stub_flasher"));
        c.stub_search[0] = '\0';
        o = manager_job_options_resolve(&c, DEVICE_KIND_UART_BRIDGE, &in);
        assert(o.stub_search == NULL);
}

/* Loader=: the default of "loader"; what the caller said wins. */
static void test_loader(void) {
        ManagerJobOptions in = { ALL_DEFAULT, .loader_default = true };
        Config c;

        config_init(&c);
        assert(manager_job_options_resolve(&c, DEVICE_KIND_UART_BRIDGE, &in).loader == JOB_LOADER_AUTO);
        c.loader = CONFIG_LOADER_ROM;
        assert(manager_job_options_resolve(&c, DEVICE_KIND_UART_BRIDGE, &in).loader == JOB_LOADER_ROM);
        c.loader = CONFIG_LOADER_STUB;
        assert(manager_job_options_resolve(&c, DEVICE_KIND_UART_BRIDGE, &in).loader == JOB_LOADER_STUB);
        in.loader_default = false;
        in.job.loader = JOB_LOADER_AUTO;
        assert(manager_job_options_resolve(&c, DEVICE_KIND_UART_BRIDGE, &in).loader == JOB_LOADER_AUTO);
}

/* Only a USB-UART bridge says the chip talks through its UART (the connect
 * then leaves its console register alone), whatever the caller asked. */
static void test_uart_link(void) {
        static const struct {
                DeviceKind kind;
                bool uart_link;
        } v[] = {
                { DEVICE_KIND_UART_BRIDGE, true },
                { DEVICE_KIND_USB_SERIAL_JTAG, false },
                { DEVICE_KIND_USB_OTG, false },
                { _DEVICE_KIND_INVALID, false },
        };
        ManagerJobOptions defaults = { ALL_DEFAULT }, explicit = { .trust = 0, .job = { .reset_before = ESP_RESET_NONE } };
        Config c;

        config_init(&c);
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                assert(manager_job_options_resolve(&c, v[i].kind, &defaults).uart_link == v[i].uart_link);
                assert(manager_job_options_resolve(&c, v[i].kind, &explicit).uart_link == v[i].uart_link);
        }
}

static void test_port_owner_strings(void) {
        static const char *const expected[] = { "idle", "monitoring", "flashing", "foreign" };

        for (PortOwner o = 0; o < _PORT_OWNER_MAX; o++) {
                assert(strcmp(port_owner_to_string(o), expected[o]) == 0);
                assert(port_owner_from_string(expected[o]) == o);
        }
        assert(port_owner_to_string(_PORT_OWNER_MAX) == NULL);
        assert(port_owner_to_string(_PORT_OWNER_INVALID) == NULL);
        assert(port_owner_from_string("busy") == _PORT_OWNER_INVALID);
        assert(port_owner_from_string(NULL) == _PORT_OWNER_INVALID);
}

int main(void) {
        test_option_defaults();
        test_stub_directory();
        test_loader();
        test_uart_link();
        test_port_owner_strings();
        return 0;
}
