/*
 * awsconf.c - credentials, region and endpoint found the way the AWS CLI and
 * SDKs find them (base/http_int.h says the order).  Nothing here is ever
 * written anywhere or put in a message except the profile's name and the
 * files' paths.
 */
#include "base/http_int.h"

#include <ctype.h>
#include <pwd.h>
#include <unistd.h>

#define PT_AWS_FILE_MAX (1u << 20)

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

void pt__aws_env_clear(pt__aws_env *e)
{
	if (e->secret_key)
		memset(e->secret_key, 0, strlen(e->secret_key));
	if (e->session_token)
		memset(e->session_token, 0, strlen(e->session_token));
	pt__free(e->access_key);
	pt__free(e->secret_key);
	pt__free(e->session_token);
	pt__free(e->region);
	pt__free(e->endpoint);
	pt__free(e->profile);
	pt__aws_env z = PT_AWS_ENV_INIT;
	*e = z;
}

int pt__endpoint_check(const char *url)
{
	const char *p;
	if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return pt__err(PT_EINVAL, "endpoint %s: must start with http:// or https://", url);
	if (!*p)
		return pt__err(PT_EINVAL, "endpoint %s: no host", url);
	size_t n = strlen(p);
	if (n > 255)
		return pt__err(PT_EINVAL, "endpoint: longer than 255 characters");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (!(isalnum(ch) || ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']'))
			return pt__err(PT_EINVAL,
				       "endpoint %s: only scheme://host[:port] is allowed (no path, query or user)", url);
	}
	return 0;
}

/* The home directory's file `rel`, or the path the environment variable names. */
static char *aws_file(const char *envname, const char *rel)
{
	const char *v = env_nonempty(envname);
	if (v)
		return pt__strdup(v);
	const char *home = env_nonempty("HOME");
	if (!home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	return home ? pt__sprintf("%s/%s", home, rel) : NULL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

/*
 * Look up `key` in section `section` of the INI file `path`.  A missing file
 * is "not found" (0, *out NULL).  Only top-level `key = value` lines count
 * (an indented line continues a nested block, as in the AWS files).
 */
static int ini_get(const char *path, const char *section, const char *key, char **out)
{
	*out = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = pt__read_file(path, PT_AWS_FILE_MAX, &data, &len);
	if (rc == PT_ENOTFOUND) {
		pt__err_clear();
		return 0;
	}
	if (rc)
		return rc;
	char *text = pt__malloc(len + 1);
	if (!text) {
		pt__free(data);
		return PT_ENOMEM;
	}
	memcpy(text, data, len);
	text[len] = 0;
	pt__free(data);
	bool in = false;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == ' ' || line[0] == '\t')
			continue;
		char *l = trim(line);
		if (!*l || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *e = strchr(l, ']');
			if (e) {
				*e = 0;
				in = strcmp(trim(l + 1), section) == 0;
			}
			continue;
		}
		if (!in)
			continue;
		char *eq = strchr(l, '=');
		if (!eq)
			continue;
		*eq = 0;
		if (strcmp(trim(l), key) == 0) {
			char *v = trim(eq + 1);
			if (*v) {
				*out = pt__strdup(v);
				rc = *out ? 0 : PT_ENOMEM;
			}
			break;
		}
	}
	memset(text, 0, len);
	pt__free(text);
	return rc;
}

/* `key` from the credentials file's [profile], else the config file's profile section. */
static int profile_get(const char *cred, const char *conf, const char *profile, const char *key, bool from_cred,
		       char **out)
{
	*out = NULL;
	int rc = 0;
	if (from_cred && cred) {
		rc = ini_get(cred, profile, key, out);
		if (rc || *out)
			return rc;
	}
	if (!conf)
		return 0;
	char *sec = strcmp(profile, "default") == 0 ? pt__strdup("default") : pt__sprintf("profile %s", profile);
	if (!sec)
		return PT_ENOMEM;
	rc = ini_get(conf, sec, key, out);
	pt__free(sec);
	return rc;
}

int pt__aws_env_load(pt__aws_env *out, const char *service, const char *endpoint, const char *region)
{
	pt__aws_env e = PT_AWS_ENV_INIT;
	int rc = 0;
	char *cred = aws_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	char *conf = aws_file("AWS_CONFIG_FILE", ".aws/config");
	const char *prof = env_nonempty("AWS_PROFILE");
	if (!prof)
		prof = env_nonempty("AWS_DEFAULT_PROFILE");
	bool named = prof != NULL;
	if (!prof)
		prof = "default";
	if (!(e.profile = pt__strdup(prof))) {
		rc = PT_ENOMEM;
		goto done;
	}

	/* credentials: the environment first, unless a profile was named explicitly
	 * and the environment has no key (AWS CLI order: env keys win) */
	const char *ak = env_nonempty("AWS_ACCESS_KEY_ID"), *sk = env_nonempty("AWS_SECRET_ACCESS_KEY");
	if (ak && sk) {
		e.access_key = pt__strdup(ak);
		e.secret_key = pt__strdup(sk);
		const char *tk = env_nonempty("AWS_SESSION_TOKEN");
		e.session_token = tk ? pt__strdup(tk) : NULL;
		if (!e.access_key || !e.secret_key || (tk && !e.session_token)) {
			rc = PT_ENOMEM;
			goto done;
		}
	} else {
		if ((rc = profile_get(cred, conf, prof, "aws_access_key_id", true, &e.access_key)) ||
		    (rc = profile_get(cred, conf, prof, "aws_secret_access_key", true, &e.secret_key)) ||
		    (rc = profile_get(cred, conf, prof, "aws_session_token", true, &e.session_token)))
			goto done;
		if (!e.access_key || !e.secret_key) {
			rc = pt__err(PT_ENOTFOUND,
				     "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or %s profile "
				     "\"%s\" in %s or %s",
				     named ? "the" : "AWS_PROFILE, or the", prof, cred ? cred : "~/.aws/credentials",
				     conf ? conf : "~/.aws/config");
			goto done;
		}
	}

	/* region */
	const char *r = region && *region ? region : env_nonempty("AWS_REGION");
	if (!r)
		r = env_nonempty("AWS_DEFAULT_REGION");
	if (r) {
		e.region = pt__strdup(r);
	} else {
		if ((rc = profile_get(cred, conf, prof, "region", false, &e.region)))
			goto done;
		if (!e.region)
			e.region = pt__strdup("us-east-1");
	}
	if (!e.region) {
		rc = PT_ENOMEM;
		goto done;
	}
	for (const char *p = e.region; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '-') || p - e.region > 64) {
			rc = pt__err(PT_EINVAL, "region \"%s\": letters, digits and '-' only", e.region);
			goto done;
		}

	/* endpoint */
	if (endpoint && *endpoint) {
		e.endpoint = pt__strdup(endpoint);
	} else {
		char envname[64] = "AWS_ENDPOINT_URL_";
		size_t k = strlen(envname);
		for (const char *p = service; *p && k + 1 < sizeof envname; p++)
			envname[k++] = (char)toupper((unsigned char)*p);
		envname[k] = 0;
		const char *ep = env_nonempty(envname);
		if (!ep)
			ep = env_nonempty("AWS_ENDPOINT_URL");
		if (ep) {
			e.endpoint = pt__strdup(ep);
		} else {
			if ((rc = profile_get(cred, conf, prof, "endpoint_url", false, &e.endpoint)))
				goto done;
			if (!e.endpoint)
				e.endpoint = pt__sprintf("https://%s.%s.amazonaws.com", service, e.region);
		}
	}
	if (!e.endpoint) {
		rc = PT_ENOMEM;
		goto done;
	}
	{
		size_t n = strlen(e.endpoint);
		while (n > 0 && e.endpoint[n - 1] == '/')
			e.endpoint[--n] = 0;
	}
	if ((rc = pt__endpoint_check(e.endpoint)))
		goto done;
done:
	pt__free(cred);
	pt__free(conf);
	if (rc) {
		pt__aws_env_clear(&e);
		return rc;
	}
	*out = e;
	return 0;
}
