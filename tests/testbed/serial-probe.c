/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * serial-probe: proves the test bed's plumbing from the client side, with the same
 * libraries the service uses (libserialport, libudev). Each command prints JSON lines
 * so the Python harness can assert on them.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <libserialport.h>
#include <libudev.h>

static const char *str_or_empty(const char *s) {
        return s ? s : "";
}

/* info PORT: what libserialport learns from sysfs about the port. */
static int cmd_info(const char *name) {
        struct sp_port *port;
        int vid = -1, pid = -1, bus = -1, addr = -1;

        if (sp_get_port_by_name(name, &port) != SP_OK) {
                printf("{\"error\":\"sp_get_port_by_name: %s\"}\n", sp_last_error_message());
                return 1;
        }
        sp_get_port_usb_vid_pid(port, &vid, &pid);
        sp_get_port_usb_bus_address(port, &bus, &addr);
        printf("{\"transport\":\"%s\",\"vid\":\"%04x\",\"pid\":\"%04x\",\"bus\":%d,\"address\":%d,"
               "\"serial\":\"%s\",\"manufacturer\":\"%s\",\"product\":\"%s\"}\n",
               sp_get_port_transport(port) == SP_TRANSPORT_USB ? "usb" : "other",
               vid, pid, bus, addr,
               str_or_empty(sp_get_port_usb_serial(port)),
               str_or_empty(sp_get_port_usb_manufacturer(port)),
               str_or_empty(sp_get_port_usb_product(port)));
        sp_free_port(port);
        return 0;
}

/* lines PORT STEP...: open, apply each STEP ("dtr=0|1", "rts=0|1", "set=DR", "sleep=MS",
 * "write=TEXT", "read=N"), and report the TIOCMGET view after every step, so the
 * harness can compare what the client believes with what reached the chip. */
static int cmd_lines(const char *name, int n_steps, char **steps) {
        struct sp_port *port;
        int fd;

        if (sp_get_port_by_name(name, &port) != SP_OK ||
            sp_open(port, SP_MODE_READ_WRITE) != SP_OK) {
                printf("{\"error\":\"open: %s\"}\n", sp_last_error_message());
                return 1;
        }
        sp_set_baudrate(port, 115200);
        sp_get_port_handle(port, &fd);

        for (int i = 0; i < n_steps; i++) {
                const char *s = steps[i];
                enum sp_return r = SP_OK;
                int bits = 0;

                if (strncmp(s, "dtr=", 4) == 0)
                        r = sp_set_dtr(port, s[4] == '1' ? SP_DTR_ON : SP_DTR_OFF);
                else if (strncmp(s, "rts=", 4) == 0)
                        r = sp_set_rts(port, s[4] == '1' ? SP_RTS_ON : SP_RTS_OFF);
                else if (strncmp(s, "set=", 4) == 0 && strlen(s) == 6) {
                        /* both lines in one TIOCMSET, like esptool's tight reset */
                        bits = (s[4] == '1' ? TIOCM_DTR : 0) | (s[5] == '1' ? TIOCM_RTS : 0);
                        r = ioctl(fd, TIOCMSET, &bits) < 0 ? SP_ERR_FAIL : SP_OK;
                } else if (strncmp(s, "sleep=", 6) == 0)
                        usleep(atoi(s + 6) * 1000);
                else if (strncmp(s, "write=", 6) == 0)
                        r = sp_blocking_write(port, s + 6, strlen(s + 6), 1000) < 0 ? SP_ERR_FAIL : SP_OK;
                else if (strncmp(s, "read=", 5) == 0) {
                        char buf[256] = {};
                        int n = atoi(s + 5);
                        if (n > (int) sizeof(buf) - 1)
                                n = sizeof(buf) - 1;
                        int got = sp_blocking_read(port, buf, n, 2000);
                        /* hex: boot output holds control characters JSON cannot carry raw */
                        printf("{\"step\":\"%s\",\"read_hex\":\"", s);
                        for (int k = 0; k < got; k++)
                                printf("%02x", (unsigned char) buf[k]);
                        printf("\"}\n");
                        continue;
                }
                if (r != SP_OK) {
                        printf("{\"step\":\"%s\",\"error\":\"%s\"}\n", s, strerror(errno));
                        return 1;
                }
                if (ioctl(fd, TIOCMGET, &bits) < 0) {
                        printf("{\"step\":\"%s\",\"error\":\"TIOCMGET: %s\"}\n", s, strerror(errno));
                        return 1;
                }
                printf("{\"step\":\"%s\",\"dtr\":%d,\"rts\":%d}\n",
                       s, !!(bits & TIOCM_DTR), !!(bits & TIOCM_RTS));
        }
        sp_close(port);
        sp_free_port(port);
        return 0;
}

static void print_device(const char *what, struct udev_device *d) {
        struct udev_device *usb =
                udev_device_get_parent_with_subsystem_devtype(d, "usb", "usb_device");
        struct udev_device *intf =
                udev_device_get_parent_with_subsystem_devtype(d, "usb", "usb_interface");

        printf("{\"event\":\"%s\",\"devnode\":\"%s\",\"syspath\":\"%s\",\"vid\":\"%s\",\"pid\":\"%s\","
               "\"serial\":\"%s\",\"driver\":\"%s\",\"id_vendor_id\":\"%s\"}\n",
               what, str_or_empty(udev_device_get_devnode(d)),
               str_or_empty(udev_device_get_syspath(d)),
               usb ? str_or_empty(udev_device_get_sysattr_value(usb, "idVendor")) : "",
               usb ? str_or_empty(udev_device_get_sysattr_value(usb, "idProduct")) : "",
               usb ? str_or_empty(udev_device_get_sysattr_value(usb, "serial")) : "",
               intf ? str_or_empty(udev_device_get_driver(intf)) : "",
               str_or_empty(udev_device_get_property_value(d, "ID_VENDOR_ID")));
        fflush(stdout);
}

/* enumerate: every tty libudev sees, with its USB parent's identity. */
static int cmd_enumerate(void) {
        struct udev *udev = udev_new();
        struct udev_enumerate *e = udev_enumerate_new(udev);
        struct udev_list_entry *entry;

        udev_enumerate_add_match_subsystem(e, "tty");
        udev_enumerate_scan_devices(e);
        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
                struct udev_device *d =
                        udev_device_new_from_syspath(udev, udev_list_entry_get_name(entry));
                if (d) {
                        print_device("enumerate", d);
                        udev_device_unref(d);
                }
        }
        udev_enumerate_unref(e);
        udev_unref(udev);
        return 0;
}

/* monitor N: print "ready", then the next N tty uevents (or time out after 10 s). */
static int cmd_monitor(int n) {
        struct udev *udev = udev_new();
        struct udev_monitor *m = udev_monitor_new_from_netlink(udev, "udev");

        udev_monitor_filter_add_match_subsystem_devtype(m, "tty", NULL);
        udev_monitor_enable_receiving(m);
        printf("{\"ready\":true}\n");
        fflush(stdout);
        while (n > 0) {
                struct pollfd p = { .fd = udev_monitor_get_fd(m), .events = POLLIN };
                if (poll(&p, 1, 10000) <= 0) {
                        printf("{\"error\":\"timeout\"}\n");
                        return 1;
                }
                struct udev_device *d = udev_monitor_receive_device(m);
                if (!d)
                        continue;
                print_device(udev_device_get_action(d), d);
                udev_device_unref(d);
                n--;
        }
        udev_monitor_unref(m);
        udev_unref(udev);
        return 0;
}

int main(int argc, char **argv) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc >= 3 && strcmp(argv[1], "info") == 0)
                return cmd_info(argv[2]);
        if (argc >= 3 && strcmp(argv[1], "lines") == 0)
                return cmd_lines(argv[2], argc - 3, argv + 3);
        if (argc == 2 && strcmp(argv[1], "enumerate") == 0)
                return cmd_enumerate();
        if (argc == 3 && strcmp(argv[1], "monitor") == 0)
                return cmd_monitor(atoi(argv[2]));
        fprintf(stderr, "usage: serial-probe info PORT | lines PORT STEP... | enumerate | monitor N\n");
        return 2;
}
