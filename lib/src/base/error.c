/* error.c - the thread-local last error. */
#include "base/base_int.h"

#include <errno.h>

#define PT_ERR_MAX 1024

static _Thread_local char err_msg[PT_ERR_MAX];
static _Thread_local int err_code;

static int set_v(int code, const char *prefix, const char *fmt, va_list ap)
{
	char tmp[PT_ERR_MAX];
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	if (prefix)
		snprintf(err_msg, sizeof err_msg, "%s: %s", tmp, prefix);
	else
		snprintf(err_msg, sizeof err_msg, "%s", tmp);
	err_code = code;
	return code;
}

int pt__err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_v(code, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int pt__err_errno(int err, const char *fmt, ...)
{
	int code = err == ENOSPC || err == EDQUOT ? PT_ENOSPC
		 : err == ENOENT		 ? PT_ENOTFOUND
		 : err == ENOMEM		 ? PT_ENOMEM
					      : PT_EIO;
	va_list ap;
	va_start(ap, fmt);
	/* ELOOP and EXDEV only come from the confined opens of fileio.c (which
	 * follow no link below a store's directory): say what happened */
	set_v(code,
	      err == ELOOP   ? "a symbolic link inside the store (not followed: links below a store's directory are refused)"
	      : err == EXDEV ? "not below the store's directory, or across file systems"
			     : strerror(err),
	      fmt, ap);
	va_end(ap);
	return code;
}

int pt__err_wrap(int code, const char *fmt, ...)
{
	char old[PT_ERR_MAX];
	snprintf(old, sizeof old, "%s", err_msg);
	va_list ap;
	va_start(ap, fmt);
	set_v(code, old[0] ? old : NULL, fmt, ap);
	va_end(ap);
	return code;
}

void pt__err_clear(void)
{
	err_msg[0] = 0;
	err_code = 0;
}

const char *pt_error_last(void) { return err_msg; }
int pt_error_last_code(void) { return err_code; }

const char *pt_error_name(int code)
{
	switch (code) {
	case PT_OK: return "PT_OK";
	case PT_ERROR: return "PT_ERROR";
	case PT_EINVAL: return "PT_EINVAL";
	case PT_ENOTFOUND: return "PT_ENOTFOUND";
	case PT_EEXISTS: return "PT_EEXISTS";
	case PT_ELOCKED: return "PT_ELOCKED";
	case PT_ECORRUPT: return "PT_ECORRUPT";
	case PT_EVERSION: return "PT_EVERSION";
	case PT_EIO: return "PT_EIO";
	case PT_ENOMEM: return "PT_ENOMEM";
	case PT_ITEROVER: return "PT_ITEROVER";
	case PT_ENOSPC: return "PT_ENOSPC";
	case PT_ELIMIT: return "PT_ELIMIT";
	case PT_ETYPE: return "PT_ETYPE";
	case PT_ECLOSED: return "PT_ECLOSED";
	default: return "PT_UNKNOWN";
	}
}

const char *pt_version(void) { return PT_VERSION_STRING; }
int pt_abi_version(void) { return PT_ABI_VERSION; }
