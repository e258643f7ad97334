/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The names of the org.fbuild.Deploy1 API that the service (src/bus) and
 * fbuildctl (src/ctl) both speak: bus name, object paths, interfaces, error
 * names. One copy, so the client cannot drift from the service; the
 * introspection XML in data/dbus is the contract these spell. */
#pragma once

#define BUS_SERVICE_NAME "org.fbuild.Deploy1"
#define BUS_OBJECT_PATH "/org/fbuild/Deploy1"
#define BUS_INTERFACE "org.fbuild.Deploy1"
/* Each Verify or DeployRegions while it runs: BUS_JOB_PATH_PREFIX "/<id>". */
#define BUS_JOB_PATH_PREFIX "/org/fbuild/Deploy1/job"
#define BUS_JOB_INTERFACE "org.fbuild.Deploy1.Job"

#define BUS_ERROR_PREFIX "org.fbuild.Deploy1.Error."
#define BUS_ERROR_DEVICE_BUSY BUS_ERROR_PREFIX "DeviceBusy"
#define BUS_ERROR_NO_SUCH_DEVICE BUS_ERROR_PREFIX "NoSuchDevice"
#define BUS_ERROR_TIMEOUT BUS_ERROR_PREFIX "Timeout"
#define BUS_ERROR_PROTOCOL_ERROR BUS_ERROR_PREFIX "ProtocolError"
#define BUS_ERROR_FLASH_ERROR BUS_ERROR_PREFIX "FlashError"
#define BUS_ERROR_CANCELLED BUS_ERROR_PREFIX "Cancelled"
#define BUS_ERROR_INVALID_REGIONS BUS_ERROR_PREFIX "InvalidRegions"
#define BUS_ERROR_INVALID_SOURCE BUS_ERROR_PREFIX "InvalidSource"
#define BUS_ERROR_PERMISSION_DENIED BUS_ERROR_PREFIX "PermissionDenied"
#define BUS_ERROR_INVALID_OPTIONS BUS_ERROR_PREFIX "InvalidOptions"
#define BUS_ERROR_NOT_SUPPORTED BUS_ERROR_PREFIX "NotSupported"
#define BUS_ERROR_CHIP_MISMATCH BUS_ERROR_PREFIX "ChipMismatch"
#define BUS_ERROR_LIMITS_EXCEEDED BUS_ERROR_PREFIX "LimitsExceeded"
/* A region path in a directory the service sees privately (PrivateTmp=). */
#define BUS_ERROR_PATH_NOT_VISIBLE BUS_ERROR_PREFIX "PathNotVisible"
