// Copyright: fractional.gpu contributors
// GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
/*
 * Simulated NVML (libnvidia-ml.so.1) for the fractional.gpu tests.
 *
 * Compiled against NVIDIA's real nvml.h (PyPI nvidia-nvml-dev) so every struct and enum is
 * the real one; the real nvidia-ml-py loads it unchanged through LD_LIBRARY_PATH. It reads
 * and changes the simulated host in $FGPU_GPUSIM_STATE, the file the simulated nvidia-smi
 * uses (format: tests/gpusim/gpusim/state.py). The MIG rules are those of
 * tests/gpusim/gpusim/mig.py; each C function below names its Python twin.
 *
 * Functions this file does not define are absent from the library: pynvml then raises
 * NVMLError_FunctionNotFound, as with an older real driver.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <nvml.h>

#define EXPORT __attribute__((visibility("default")))

/* ---------------------------------------------------------------------------------------
 * The state file: a list of records, each a tag and key=value fields.
 */
#define MAX_RECORDS 512
#define MAX_FIELDS 20
#define KEY_LEN 24
#define VALUE_LEN 112
#define MAGIC "gpusim-state 1"

typedef struct {
    char tag[16];
    int count;
    char key[MAX_FIELDS][KEY_LEN];
    char value[MAX_FIELDS][VALUE_LEN];
} record_t;

static record_t records[MAX_RECORDS];
static int record_count;
static char state_path[4096];
static int lock_fd = -1;
static int init_count;
static pthread_mutex_t call_mutex = PTHREAD_MUTEX_INITIALIZER; /* one call at a time per process */

static const char *get(const record_t *r, const char *key)
{
    for (int i = 0; i < r->count; i++)
        if (strcmp(r->key[i], key) == 0)
            return r->value[i];
    return "";
}

static long num(const record_t *r, const char *key) { return strtol(get(r, key), NULL, 0); }

static void set_field(record_t *r, const char *key, const char *value)
{
    int i = 0;
    while (i < r->count && strcmp(r->key[i], key) != 0)
        i++;
    if (i == r->count) {
        if (r->count == MAX_FIELDS)
            return;
        r->count++;
        snprintf(r->key[i], KEY_LEN, "%s", key);
    }
    snprintf(r->value[i], VALUE_LEN, "%s", value);
}

static void set_num(record_t *r, const char *key, long value)
{
    char text[32];
    snprintf(text, sizeof text, "%ld", value);
    set_field(r, key, text);
}

static int is(const record_t *r, const char *tag) { return strcmp(r->tag, tag) == 0; }

static record_t *add_record(const char *tag)
{
    if (record_count == MAX_RECORDS)
        return NULL;
    record_t *r = &records[record_count++];
    memset(r, 0, sizeof *r);
    snprintf(r->tag, sizeof r->tag, "%s", tag);
    return r;
}

static void remove_record(record_t *r)
{
    long at = r - records;
    memmove(r, r + 1, (size_t)(record_count - at - 1) * sizeof *r);
    record_count--;
}

static int parse_list(const char *text, unsigned *out, int max)
{
    int n = 0;
    while (*text && n < max) {
        out[n++] = (unsigned)strtoul(text, (char **)&text, 10);
        if (*text == ',')
            text++;
    }
    return n;
}

static nvmlReturn_t read_state(void)
{
    FILE *f = fopen(state_path, "r");
    if (!f)
        return NVML_ERROR_DRIVER_NOT_LOADED;
    char line[2048];
    record_count = 0;
    if (!fgets(line, sizeof line, f) || strncmp(line, MAGIC, strlen(MAGIC)) != 0) {
        fclose(f);
        return NVML_ERROR_UNKNOWN;
    }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *save = NULL, *tag = strtok_r(line, "\t", &save);
        if (!tag)
            continue;
        record_t *r = add_record(tag);
        if (!r)
            break;
        for (char *field = strtok_r(NULL, "\t", &save); field; field = strtok_r(NULL, "\t", &save)) {
            char *eq = strchr(field, '=');
            if (eq) {
                *eq = 0;
                set_field(r, field, eq + 1);
            }
        }
    }
    fclose(f);
    return NVML_SUCCESS;
}

static nvmlReturn_t write_state(void)
{
    char temporary[4200];
    snprintf(temporary, sizeof temporary, "%s.tmp.%d", state_path, (int)getpid());
    FILE *f = fopen(temporary, "w");
    if (!f)
        return NVML_ERROR_UNKNOWN;
    fprintf(f, "%s\n", MAGIC);
    for (int i = 0; i < record_count; i++) {
        fputs(records[i].tag, f);
        for (int k = 0; k < records[i].count; k++)
            fprintf(f, "\t%s=%s", records[i].key[k], records[i].value[k]);
        fputc('\n', f);
    }
    if (fclose(f) != 0 || rename(temporary, state_path) != 0)
        return NVML_ERROR_UNKNOWN;
    return NVML_SUCCESS;
}

static nvmlReturn_t end(nvmlReturn_t ret)
{
    if (lock_fd >= 0)
        close(lock_fd); /* releases the flock */
    lock_fd = -1;
    pthread_mutex_unlock(&call_mutex);
    return ret;
}

/* Every API call: take the file lock (shared to read, exclusive to change) and load the
 * state; every path out of a call that began goes through end(). */
static nvmlReturn_t begin(int exclusive)
{
    pthread_mutex_lock(&call_mutex);
    if (init_count == 0)
        return end(NVML_ERROR_UNINITIALIZED);
    char lock_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s.lock", state_path);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0 || flock(lock_fd, exclusive ? LOCK_EX : LOCK_SH) != 0)
        return end(NVML_ERROR_UNKNOWN);
    nvmlReturn_t ret = read_state();
    return ret == NVML_SUCCESS ? ret : end(ret);
}

/* End a mutating call: save the state and append the call to <state>.mutations.log. */
static nvmlReturn_t end_mutation(nvmlReturn_t ret, const char *call)
{
    if (write_state() != NVML_SUCCESS)
        ret = NVML_ERROR_UNKNOWN;
    char log_path[4200];
    snprintf(log_path, sizeof log_path, "%s.mutations.log", state_path);
    FILE *log = fopen(log_path, "a");
    if (log) {
        char stamp[32];
        time_t now = time(NULL);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", localtime(&now));
        fprintf(log, "%s nvml %s -> %d\n", stamp, call, (int)ret);
        fclose(log);
    }
    return end(ret);
}

static record_t *first(const char *tag)
{
    for (int i = 0; i < record_count; i++)
        if (is(&records[i], tag))
            return &records[i];
    return NULL;
}

/* Counts one mutation against the fail_after_mutations fault; 1 when this one must fail
 * (mig.py: consume_injected_failure). */
static int take_mutation(void)
{
    record_t *faults = first("faults");
    long remaining = faults ? num(faults, "fail_after_mutations") : -1;
    if (remaining < 0)
        return 0;
    set_num(faults, "fail_after_mutations", remaining == 0 ? -1 : remaining - 1);
    return remaining == 0;
}

static int fault(const char *name)
{
    record_t *faults = first("faults");
    return faults && num(faults, name) != 0;
}

/* ---------------------------------------------------------------------------------------
 * Handles. nvml.h leaves these structs opaque; here they name a GPU, GPU instance,
 * compute instance or MIG device by index, and live in fixed tables so that they stay
 * valid across calls (each call re-reads the state and checks the object still exists).
 */
#define MAX_GPUS 16
#define MAX_GI_ID 15 /* GI ids 0..14: the binary tree of 8 memory slices */
#define MAX_CI_ID 8

struct nvmlDevice_st {
    unsigned gpu;
    int gi, ci; /* -1 for a whole GPU */
};
struct nvmlGpuInstance_st {
    unsigned gpu, id;
};
struct nvmlComputeInstance_st {
    unsigned gpu, gi, id;
};

static struct nvmlDevice_st gpu_handles[MAX_GPUS];
static struct nvmlDevice_st mig_handles[MAX_GPUS][MAX_GI_ID][MAX_CI_ID];
static struct nvmlGpuInstance_st gi_handles[MAX_GPUS][MAX_GI_ID];
static struct nvmlComputeInstance_st ci_handles[MAX_GPUS][MAX_GI_ID][MAX_CI_ID];

static void init_handles(void)
{
    for (unsigned g = 0; g < MAX_GPUS; g++) {
        gpu_handles[g] = (struct nvmlDevice_st){g, -1, -1};
        for (unsigned i = 0; i < MAX_GI_ID; i++) {
            gi_handles[g][i] = (struct nvmlGpuInstance_st){g, i};
            for (unsigned c = 0; c < MAX_CI_ID; c++) {
                mig_handles[g][i][c] = (struct nvmlDevice_st){g, (int)i, (int)c};
                ci_handles[g][i][c] = (struct nvmlComputeInstance_st){g, i, c};
            }
        }
    }
}

#define IN_TABLE(p, table) \
    ((const char *)(p) >= (const char *)(table) && (const char *)(p) < (const char *)(table) + sizeof(table))

static record_t *gpu_record(unsigned index)
{
    for (int i = 0; i < record_count; i++)
        if (is(&records[i], "gpu") && num(&records[i], "index") == (long)index)
            return &records[i];
    return NULL;
}

static record_t *gi_record(unsigned gpu, long id)
{
    for (int i = 0; i < record_count; i++)
        if (is(&records[i], "gi") && num(&records[i], "gpu") == (long)gpu && num(&records[i], "id") == id)
            return &records[i];
    return NULL;
}

static record_t *ci_record(unsigned gpu, long gi, long id)
{
    for (int i = 0; i < record_count; i++)
        if (is(&records[i], "ci") && num(&records[i], "gpu") == (long)gpu && num(&records[i], "gi") == gi &&
            num(&records[i], "id") == id)
            return &records[i];
    return NULL;
}

static record_t *gi_profile(const record_t *gpu, const char *key, long value)
{
    for (int i = 0; i < record_count; i++)
        if (is(&records[i], "gi_profile") && strcmp(get(&records[i], "model"), get(gpu, "model")) == 0 &&
            num(&records[i], key) == value)
            return &records[i];
    return NULL;
}

static record_t *ci_profile(const record_t *gpu, long gi_profile_id, long id)
{
    for (int i = 0; i < record_count; i++)
        if (is(&records[i], "ci_profile") && strcmp(get(&records[i], "model"), get(gpu, "model")) == 0 &&
            num(&records[i], "gi_profile") == gi_profile_id && num(&records[i], "id") == id)
            return &records[i];
    return NULL;
}

/* The GPU record of a device handle (whole GPU or MIG device that still exists). */
static record_t *device_gpu(nvmlDevice_t device)
{
    if (!device || !(IN_TABLE(device, gpu_handles) || IN_TABLE(device, mig_handles)))
        return NULL;
    record_t *gpu = gpu_record(device->gpu);
    if (gpu && device->gi >= 0 && !ci_record(device->gpu, device->gi, device->ci))
        return NULL;
    return gpu;
}

static int is_mig_device(nvmlDevice_t device) { return device->gi >= 0; }

static record_t *instance_gi(nvmlGpuInstance_t instance)
{
    return instance && IN_TABLE(instance, gi_handles) ? gi_record(instance->gpu, instance->id) : NULL;
}

static record_t *instance_ci(nvmlComputeInstance_t instance)
{
    return instance && IN_TABLE(instance, ci_handles) ? ci_record(instance->gpu, instance->gi, instance->id) : NULL;
}

static int process_count(unsigned gpu, long gi, long ci) /* gi/ci: -2 for any */
{
    int n = 0;
    for (int i = 0; i < record_count; i++)
        if (is(&records[i], "process") && num(&records[i], "gpu") == (long)gpu &&
            (gi == -2 || num(&records[i], "gi") == gi) && (ci == -2 || num(&records[i], "ci") == ci))
            n++;
    return n;
}

static int mig_enabled(const record_t *gpu) { return num(gpu, "mig_capable") && num(gpu, "mig_current") == 1; }

/* mig.py: mode_persists. Ampere keeps its MIG mode and needs a reset to change it; Hopper
 * and later change it without one. */
static int mode_persists(const record_t *gpu) { return strcmp(get(gpu, "architecture"), "Ampere") == 0; }

/* ---------------------------------------------------------------------------------------
 * MIG rules (twins of tests/gpusim/gpusim/mig.py).
 */
typedef struct {
    const record_t *profile;
    unsigned start;
} taken_t;

static unsigned gi_id_for(const record_t *gpu, const record_t *profile, unsigned start)
{
    unsigned size = (unsigned)num(profile, "memory_slices");
    return (unsigned)num(gpu, "memory_slices") / size - 1 + start / size;
}

static int collect_taken(const record_t *gpu, taken_t *taken)
{
    int n = 0;
    for (int i = 0; i < record_count; i++)
        if (is(&records[i], "gi") && num(&records[i], "gpu") == num(gpu, "index")) {
            taken[n].profile = gi_profile(gpu, "id", num(&records[i], "profile"));
            taken[n++].start = (unsigned)num(&records[i], "start");
        }
    return n;
}

static int has_placement(const record_t *profile, unsigned start)
{
    unsigned placements[16];
    int n = parse_list(get(profile, "placements"), placements, 16);
    for (int i = 0; i < n; i++)
        if (placements[i] == start)
            return 1;
    return 0;
}

/* mig.py: _gi_conflict */
static nvmlReturn_t gi_conflict(const record_t *gpu, const taken_t *taken, int n, const record_t *profile,
                                unsigned start)
{
    if (!has_placement(profile, start))
        return NVML_ERROR_INVALID_ARGUMENT;
    long compute = num(profile, "compute"), same = 0;
    unsigned size = (unsigned)num(profile, "memory_slices");
    for (int i = 0; i < n; i++) {
        unsigned other_start = taken[i].start, other_size = (unsigned)num(taken[i].profile, "memory_slices");
        compute += num(taken[i].profile, "compute");
        same += num(taken[i].profile, "id") == num(profile, "id");
        if ((num(profile, "me") && num(taken[i].profile, "me")) ||
            (start < other_start + other_size && other_start < start + size))
            return NVML_ERROR_INSUFFICIENT_RESOURCES;
    }
    if (compute > num(gpu, "compute_slices") || same >= num(profile, "max"))
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    return NVML_SUCCESS;
}

/* mig.py: _auto_start; -1 when no placement fits */
static long auto_start(const record_t *gpu, const taken_t *taken, int n, const record_t *profile)
{
    unsigned placements[16];
    int count = parse_list(get(profile, "placements"), placements, 16);
    for (int i = count - 1; i >= 0; i--)
        if (gi_conflict(gpu, taken, n, profile, placements[i]) == NVML_SUCCESS)
            return placements[i];
    return -1;
}

/* mig.py: remaining_gi_capacity */
static unsigned remaining_gi(const record_t *gpu, const record_t *profile)
{
    taken_t taken[MAX_GI_ID + 8];
    int n = collect_taken(gpu, taken);
    unsigned count = 0;
    for (long start; n < MAX_GI_ID + 8 && (start = auto_start(gpu, taken, n, profile)) >= 0; count++) {
        taken[n].profile = profile;
        taken[n++].start = (unsigned)start;
    }
    return count;
}

/* mig.py: create_gpu_instance */
static nvmlReturn_t create_gi(record_t *gpu, unsigned profile_id, long start, unsigned *id)
{
    if (!mig_enabled(gpu))
        return NVML_ERROR_NOT_SUPPORTED;
    const record_t *profile = gi_profile(gpu, "id", profile_id);
    if (!profile)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned index = (unsigned)num(gpu, "index");
    if (process_count(index, -1, -2))
        return NVML_ERROR_IN_USE;
    taken_t taken[MAX_GI_ID];
    int n = collect_taken(gpu, taken);
    if (start < 0 && (start = auto_start(gpu, taken, n, profile)) < 0)
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    nvmlReturn_t ret = gi_conflict(gpu, taken, n, profile, (unsigned)start);
    if (ret != NVML_SUCCESS)
        return ret;
    record_t *gi = add_record("gi");
    if (!gi)
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    *id = gi_id_for(gpu, profile, (unsigned)start);
    set_num(gi, "gpu", index);
    set_num(gi, "id", *id);
    set_num(gi, "profile", profile_id);
    set_num(gi, "start", start);
    return NVML_SUCCESS;
}

static int ci_count(unsigned gpu, long gi)
{
    int n = 0;
    for (int i = 0; i < record_count; i++)
        n += is(&records[i], "ci") && num(&records[i], "gpu") == (long)gpu && num(&records[i], "gi") == gi;
    return n;
}

static unsigned long long fnv1a(const char *text)
{
    unsigned long long value = 0xcbf29ce484222325ULL;
    for (; *text; text++)
        value = (value ^ (unsigned char)*text) * 0x100000001b3ULL;
    return value;
}

/* mig.py: mig_device_uuid */
static void mig_uuid(const char *gpu_uuid, long gi, long ci, char *out, size_t size)
{
    char text[160], salted[168], digits[40];
    snprintf(text, sizeof text, "%s/%ld/%ld", gpu_uuid, gi, ci);
    snprintf(salted, sizeof salted, "%s#", text);
    snprintf(digits, sizeof digits, "%016llx%016llx", fnv1a(text), fnv1a(salted));
    snprintf(out, size, "MIG-%.8s-%.4s-%.4s-%.4s-%.12s", digits, digits + 8, digits + 12, digits + 16, digits + 20);
}

/* mig.py: create_compute_instance; profile_id < 0 takes the GI-sized default */
static nvmlReturn_t create_ci(record_t *gpu, record_t *gi, long profile_id, long start, unsigned *id)
{
    unsigned index = (unsigned)num(gpu, "index");
    long gi_id = num(gi, "id"), gi_profile_id = num(gi, "profile");
    if (profile_id < 0)
        for (long p = 0; p < NVML_COMPUTE_INSTANCE_PROFILE_COUNT; p++)
            if (ci_profile(gpu, gi_profile_id, p))
                profile_id = p;
    const record_t *profile = ci_profile(gpu, gi_profile_id, profile_id);
    if (!profile)
        return NVML_ERROR_NOT_SUPPORTED;
    long size = num(profile, "compute"), used = 0, same = 0;
    int busy[MAX_CI_ID] = {0}, used_id[MAX_CI_ID] = {0};
    for (int i = 0; i < record_count; i++) {
        record_t *ci = &records[i];
        if (!is(ci, "ci") || num(ci, "gpu") != (long)index || num(ci, "gi") != gi_id)
            continue;
        const record_t *other = ci_profile(gpu, gi_profile_id, num(ci, "profile"));
        long other_size = other ? num(other, "compute") : 1;
        used += other_size;
        same += num(ci, "profile") == profile_id;
        for (long s = num(ci, "start"); s < num(ci, "start") + other_size && s < MAX_CI_ID; s++)
            busy[s] = 1;
        if (num(ci, "id") < MAX_CI_ID)
            used_id[num(ci, "id")] = 1;
    }
    const record_t *gi_prof = gi_profile(gpu, "id", gi_profile_id);
    if (same >= num(profile, "max") || used + size > num(gi_prof, "compute"))
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    if (start >= 0 && !has_placement(profile, (unsigned)start))
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned placements[MAX_CI_ID];
    int n = parse_list(get(profile, "placements"), placements, MAX_CI_ID);
    long chosen = -1;
    for (int i = 0; i < n && chosen < 0; i++) {
        int fits = start < 0 || (long)placements[i] == start;
        for (unsigned s = placements[i]; fits && s < placements[i] + size; s++)
            fits = s < MAX_CI_ID && !busy[s];
        if (fits)
            chosen = placements[i];
    }
    if (chosen < 0)
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    unsigned ci_id = 0;
    while (ci_id < MAX_CI_ID - 1 && used_id[ci_id])
        ci_id++;
    record_t *ci = add_record("ci");
    if (!ci)
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    char uuid[64];
    mig_uuid(get(gpu, "uuid"), gi_id, ci_id, uuid, sizeof uuid);
    set_num(ci, "gpu", index);
    set_num(ci, "gi", gi_id);
    set_num(ci, "id", ci_id);
    set_num(ci, "profile", profile_id);
    set_num(ci, "start", chosen);
    set_field(ci, "uuid", uuid);
    *id = ci_id;
    return NVML_SUCCESS;
}

/* The index-th MIG device of a GPU, ordered by GI id then CI id (mig.py: mig_devices). */
static record_t *nth_mig_device(const record_t *gpu, unsigned index)
{
    unsigned seen = 0;
    for (long gi = 0; gi < MAX_GI_ID; gi++)
        for (long ci = 0; ci < MAX_CI_ID; ci++) {
            record_t *r = ci_record((unsigned)num(gpu, "index"), gi, ci);
            if (r && seen++ == index)
                return r;
        }
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * The API.
 */
static nvmlReturn_t copy_string(char *out, unsigned length, const char *text)
{
    if (!out)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(text) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(out, text);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    const char *path = getenv("FGPU_GPUSIM_STATE");
    if (!path || !*path || access(path, R_OK) != 0)
        return NVML_ERROR_DRIVER_NOT_LOADED; /* no simulated host: as if no NVIDIA driver */
    pthread_mutex_lock(&call_mutex);
    snprintf(state_path, sizeof state_path, "%s", path);
    if (init_count++ == 0)
        init_handles();
    pthread_mutex_unlock(&call_mutex);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }

EXPORT nvmlReturn_t nvmlShutdown(void)
{
    pthread_mutex_lock(&call_mutex);
    nvmlReturn_t ret = init_count == 0 ? NVML_ERROR_UNINITIALIZED : NVML_SUCCESS;
    if (init_count > 0)
        init_count--;
    pthread_mutex_unlock(&call_mutex);
    return ret;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_RESET_REQUIRED: return "GPU requires reset";
    case NVML_ERROR_IN_USE: return "In use by another client";
    case NVML_ERROR_INSUFFICIENT_RESOURCES: return "Insufficient Resources";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Version mismatch between passed in argument and library";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    default: return "Unknown Error";
    }
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    nvmlReturn_t ret = begin(0);
    if (ret != NVML_SUCCESS)
        return ret;
    record_t *host = first("host");
    return end(copy_string(version, length, host ? get(host, "driver_version") : ""));
}

EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    nvmlReturn_t ret = begin(0);
    if (ret != NVML_SUCCESS)
        return ret;
    record_t *host = first("host");
    char text[96];
    /* "<CUDA major>.<driver version>", e.g. 13.580.95.05 */
    snprintf(text, sizeof text, "%ld.%s", host ? num(host, "cuda_version") / 1000 : 0,
             host ? get(host, "driver_version") : "");
    return end(copy_string(version, length, text));
}

EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    if (!cudaDriverVersion)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t ret = begin(0);
    if (ret != NVML_SUCCESS)
        return ret;
    record_t *host = first("host");
    *cudaDriverVersion = host ? (int)num(host, "cuda_version") : 0;
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    return nvmlSystemGetCudaDriverVersion(cudaDriverVersion);
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    if (!deviceCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t ret = begin(0);
    if (ret != NVML_SUCCESS)
        return ret;
    *deviceCount = 0;
    for (int i = 0; i < record_count; i++)
        *deviceCount += is(&records[i], "gpu");
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (!device)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t ret = begin(0);
    if (ret != NVML_SUCCESS)
        return ret;
    if (index >= MAX_GPUS || !gpu_record(index))
        return end(NVML_ERROR_INVALID_ARGUMENT);
    *device = &gpu_handles[index];
    return end(NVML_SUCCESS);
}

/* Finds a GPU or MIG device by a field of its record (uuid, bus_id); a bus id may also
 * come in the short domain form ("0000:18:00.0"). */
static nvmlReturn_t handle_by(const char *key, const char *value, nvmlDevice_t *device)
{
    if (!value || !device)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t ret = begin(0);
    if (ret != NVML_SUCCESS)
        return ret;
    for (int i = 0; i < record_count; i++) {
        record_t *r = &records[i];
        const char *field = get(r, key);
        int short_bus_id = strcmp(key, "bus_id") == 0 && strlen(field) > 4 && strcasecmp(field + 4, value) == 0;
        if (strcasecmp(field, value) != 0 && !short_bus_id)
            continue;
        if (is(r, "gpu") && num(r, "index") < MAX_GPUS) {
            *device = &gpu_handles[num(r, "index")];
            return end(NVML_SUCCESS);
        }
        if (is(r, "ci") && num(r, "gpu") < MAX_GPUS && num(r, "gi") < MAX_GI_ID && num(r, "id") < MAX_CI_ID) {
            *device = &mig_handles[num(r, "gpu")][num(r, "gi")][num(r, "id")];
            return end(NVML_SUCCESS);
        }
    }
    return end(NVML_ERROR_NOT_FOUND);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    return handle_by("uuid", uuid, device);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device)
{
    return handle_by("bus_id", pciBusId, device);
}

/* Opens a read-only call on a device handle: *gpu is its GPU record. */
static nvmlReturn_t begin_device(nvmlDevice_t device, record_t **gpu)
{
    nvmlReturn_t ret = begin(0);
    if (ret != NVML_SUCCESS)
        return ret;
    *gpu = device_gpu(device);
    return *gpu ? NVML_SUCCESS : end(NVML_ERROR_INVALID_ARGUMENT);
}

EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    record_t *gpu;
    nvmlReturn_t ret = index ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    *index = (unsigned)num(gpu, "index");
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    record_t *gpu;
    nvmlReturn_t ret = begin_device(device, &gpu);
    if (ret != NVML_SUCCESS)
        return ret;
    if (!is_mig_device(device))
        return end(copy_string(name, length, get(gpu, "name")));
    record_t *ci = ci_record(device->gpu, device->gi, device->ci), *gi = gi_record(device->gpu, device->gi);
    const record_t *profile = ci_profile(gpu, num(gi, "profile"), num(ci, "profile"));
    char text[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    snprintf(text, sizeof text, "%s MIG %s", get(gpu, "name"), profile ? get(profile, "name") : "");
    return end(copy_string(name, length, text));
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    record_t *gpu;
    nvmlReturn_t ret = begin_device(device, &gpu);
    if (ret != NVML_SUCCESS)
        return ret;
    const record_t *owner = is_mig_device(device) ? ci_record(device->gpu, device->gi, device->ci) : gpu;
    return end(copy_string(uuid, length, get(owner, "uuid")));
}

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    record_t *gpu;
    nvmlReturn_t ret = pci ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    memset(pci, 0, sizeof *pci);
    const char *bus_id = get(gpu, "bus_id"); /* 00000000:18:00.0 */
    unsigned domain = 0, bus = 0, dev = 0, function = 0;
    sscanf(bus_id, "%x:%x:%x.%x", &domain, &bus, &dev, &function);
    pci->domain = domain;
    pci->bus = bus;
    pci->device = dev;
    pci->pciDeviceId = (unsigned)num(gpu, "pci_device_id");
    /* The board's subsystem id when the model gives one (state.py: subsystem_id). */
    pci->pciSubSystemId = (unsigned)(num(gpu, "pci_subsystem_id") ? num(gpu, "pci_subsystem_id")
                                                                   : num(gpu, "pci_device_id"));
    snprintf(pci->busId, sizeof pci->busId, "%s", bus_id);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%s", bus_id + 4);
    return end(NVML_SUCCESS);
}

/* Total and used memory (MiB) of a GPU or MIG device; used = its processes' memory. */
static void device_memory(const record_t *gpu, nvmlDevice_t device, unsigned long long *total,
                          unsigned long long *used)
{
    *used = 0;
    if (is_mig_device(device)) {
        const record_t *profile = gi_profile(gpu, "id", num(gi_record(device->gpu, device->gi), "profile"));
        *total = (unsigned long long)num(profile, "memory_mib");
    } else {
        *total = (unsigned long long)num(gpu, "memory_mib");
    }
    for (int i = 0; i < record_count; i++) {
        const record_t *p = &records[i];
        if (is(p, "process") && num(p, "gpu") == (long)device->gpu &&
            (!is_mig_device(device) || (num(p, "gi") == device->gi && num(p, "ci") == device->ci)))
            *used += (unsigned long long)num(p, "used_mib");
    }
}

#define MIB (1024ULL * 1024ULL)

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    record_t *gpu;
    nvmlReturn_t ret = memory ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    unsigned long long total, used;
    device_memory(gpu, device, &total, &used);
    memory->total = total * MIB;
    memory->used = used * MIB;
    memory->free = (total - used) * MIB;
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    if (!memory)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (memory->version != nvmlMemory_v2)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    record_t *gpu;
    nvmlReturn_t ret = begin_device(device, &gpu);
    if (ret != NVML_SUCCESS)
        return ret;
    unsigned long long total, used;
    device_memory(gpu, device, &total, &used);
    memory->total = total * MIB;
    memory->reserved = 0;
    memory->used = used * MIB;
    memory->free = (total - used) * MIB;
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                            nvmlProcessInfo_t *infos)
{
    record_t *gpu;
    nvmlReturn_t ret = infoCount ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    unsigned found = 0;
    for (int i = 0; i < record_count; i++) {
        const record_t *p = &records[i];
        if (!is(p, "process") || num(p, "gpu") != (long)device->gpu ||
            (is_mig_device(device) && (num(p, "gi") != device->gi || num(p, "ci") != device->ci)))
            continue;
        if (infos && found < *infoCount) {
            infos[found].pid = (unsigned)num(p, "pid");
            infos[found].usedGpuMemory = (unsigned long long)num(p, "used_mib") * MIB;
            infos[found].gpuInstanceId = num(p, "gi") < 0 ? 0xFFFFFFFFu : (unsigned)num(p, "gi");
            infos[found].computeInstanceId = num(p, "ci") < 0 ? 0xFFFFFFFFu : (unsigned)num(p, "ci");
        }
        found++;
    }
    ret = found > *infoCount || (found && !infos) ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
    *infoCount = found;
    return end(ret);
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *infoCount,
                                                            nvmlProcessInfo_v2_t *infos)
{
    return nvmlDeviceGetComputeRunningProcesses_v3(device, infoCount, infos);
}

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode)
{
    record_t *gpu;
    nvmlReturn_t ret = currentMode && pendingMode ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    if (!num(gpu, "mig_capable") || is_mig_device(device))
        return end(NVML_ERROR_NOT_SUPPORTED);
    *currentMode = (unsigned)num(gpu, "mig_current");
    *pendingMode = (unsigned)num(gpu, "mig_pending");
    return end(NVML_SUCCESS);
}

/* Opens a mutating call on a whole-GPU handle. */
static nvmlReturn_t begin_change(nvmlDevice_t device, record_t **gpu)
{
    nvmlReturn_t ret = begin(1);
    if (ret != NVML_SUCCESS)
        return ret;
    *gpu = device_gpu(device);
    if (!*gpu || is_mig_device(device))
        return end(NVML_ERROR_INVALID_ARGUMENT);
    return NVML_SUCCESS;
}

/* mig.py: set_mig_mode */
EXPORT nvmlReturn_t nvmlDeviceSetMigMode(nvmlDevice_t device, unsigned int mode, nvmlReturn_t *activationStatus)
{
    record_t *gpu;
    if (!activationStatus || mode > NVML_DEVICE_MIG_ENABLE)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t ret = begin_change(device, &gpu);
    if (ret != NVML_SUCCESS)
        return ret;
    char call[64];
    snprintf(call, sizeof call, "nvmlDeviceSetMigMode gpu=%u mode=%u", device->gpu, mode);
    if (take_mutation())
        return end_mutation(NVML_ERROR_UNKNOWN, call);
    if (!num(gpu, "mig_capable"))
        return end_mutation(NVML_ERROR_NOT_SUPPORTED, call);
    taken_t taken[MAX_GI_ID];
    if (mode == NVML_DEVICE_MIG_DISABLE && collect_taken(gpu, taken) > 0)
        return end_mutation(NVML_ERROR_IN_USE, call);
    set_num(gpu, "mig_pending", mode);
    if (num(gpu, "mig_current") == (long)mode)
        *activationStatus = NVML_SUCCESS;
    else if (mode_persists(gpu) && (fault("mig_needs_reboot") || fault("mig_needs_reset")))
        *activationStatus = NVML_ERROR_RESET_REQUIRED;
    else if (process_count(device->gpu, -2, -2))
        *activationStatus = NVML_ERROR_IN_USE;
    else {
        set_num(gpu, "mig_current", mode);
        *activationStatus = NVML_SUCCESS;
    }
    return end_mutation(NVML_SUCCESS, call);
}

/* Fills the fields every GpuInstanceProfileInfo version shares (v1, v2, v3). */
#define FILL_GI_PROFILE_INFO(info, p)                                    \
    do {                                                                 \
        (info)->id = (unsigned)num(p, "id");                             \
        (info)->sliceCount = (unsigned)num(p, "compute");                \
        (info)->instanceCount = (unsigned)num(p, "max");                 \
        (info)->multiprocessorCount = (unsigned)num(p, "sm");            \
        (info)->copyEngineCount = (unsigned)num(p, "ce");                \
        (info)->decoderCount = (unsigned)num(p, "dec");                  \
        (info)->encoderCount = (unsigned)num(p, "enc");                  \
        (info)->jpegCount = (unsigned)num(p, "jpeg");                    \
        (info)->ofaCount = (unsigned)num(p, "ofa");                      \
        (info)->memorySizeMB = (unsigned long long)num(p, "memory_mib"); \
    } while (0)

/* Looks a GI profile up by NVML enum (by_id = 0) or by profile id (by_id = 1). */
static nvmlReturn_t begin_gi_profile(nvmlDevice_t device, unsigned key, int by_id, record_t **profile)
{
    record_t *gpu;
    if (!by_id && key >= NVML_GPU_INSTANCE_PROFILE_COUNT)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t ret = begin_device(device, &gpu);
    if (ret != NVML_SUCCESS)
        return ret;
    if (!num(gpu, "mig_capable") || is_mig_device(device))
        return end(NVML_ERROR_NOT_SUPPORTED);
    *profile = gi_profile(gpu, by_id ? "id" : "nvml", key);
    return *profile ? NVML_SUCCESS : end(NVML_ERROR_NOT_SUPPORTED);
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfo(nvmlDevice_t device, unsigned int profile,
                                                        nvmlGpuInstanceProfileInfo_t *info)
{
    record_t *p;
    nvmlReturn_t ret = info ? begin_gi_profile(device, profile, 0, &p) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    memset(info, 0, sizeof *info);
    FILL_GI_PROFILE_INFO(info, p);
    return end(NVML_SUCCESS);
}

/* The versioned variants take a v2 or v3 struct, told apart by its version field. */
static nvmlReturn_t gi_profile_info_v(nvmlDevice_t device, unsigned key, int by_id,
                                      nvmlGpuInstanceProfileInfo_v2_t *info)
{
    if (!info)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned version = info->version;
    if (version != nvmlGpuInstanceProfileInfo_v2 && version != nvmlGpuInstanceProfileInfo_v3)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    record_t *p;
    nvmlReturn_t ret = begin_gi_profile(device, key, by_id, &p);
    if (ret != NVML_SUCCESS)
        return ret;
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    snprintf(name, sizeof name, "MIG %s", get(p, "name"));
    if (version == nvmlGpuInstanceProfileInfo_v2) {
        memset(info, 0, sizeof *info);
        info->version = version;
        FILL_GI_PROFILE_INFO(info, p);
        snprintf(info->name, sizeof info->name, "%s", name);
    } else {
        nvmlGpuInstanceProfileInfo_v3_t *v3 = (nvmlGpuInstanceProfileInfo_v3_t *)info;
        memset(v3, 0, sizeof *v3);
        v3->version = version;
        FILL_GI_PROFILE_INFO(v3, p);
        snprintf(v3->name, sizeof v3->name, "%s", name);
    }
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t device, unsigned int profile,
                                                         nvmlGpuInstanceProfileInfo_v2_t *info)
{
    return gi_profile_info_v(device, profile, 0, info);
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoByIdV(nvmlDevice_t device, unsigned int profileId,
                                                             nvmlGpuInstanceProfileInfo_v2_t *info)
{
    return gi_profile_info_v(device, profileId, 1, info);
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements_v2(nvmlDevice_t device, unsigned int profileId,
                                                                  nvmlGpuInstancePlacement_t *placements,
                                                                  unsigned int *count)
{
    record_t *p;
    nvmlReturn_t ret = count ? begin_gi_profile(device, profileId, 1, &p) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    unsigned starts[16];
    int n = parse_list(get(p, "placements"), starts, 16);
    if (placements) {
        if (*count < (unsigned)n) {
            *count = (unsigned)n;
            return end(NVML_ERROR_INSUFFICIENT_SIZE);
        }
        for (int i = 0; i < n; i++)
            placements[i] = (nvmlGpuInstancePlacement_t){starts[i], (unsigned)num(p, "memory_slices")};
    }
    *count = (unsigned)n;
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceRemainingCapacity(nvmlDevice_t device, unsigned int profileId,
                                                              unsigned int *count)
{
    record_t *p;
    nvmlReturn_t ret = count ? begin_gi_profile(device, profileId, 1, &p) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    record_t *gpu = gpu_record(device->gpu);
    if (!mig_enabled(gpu))
        return end(NVML_ERROR_NOT_SUPPORTED);
    *count = remaining_gi(gpu, p);
    return end(NVML_SUCCESS);
}

static nvmlReturn_t create_gpu_instance(nvmlDevice_t device, unsigned profileId, long start,
                                        nvmlGpuInstance_t *gpuInstance)
{
    record_t *gpu;
    if (!gpuInstance)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t ret = begin_change(device, &gpu);
    if (ret != NVML_SUCCESS)
        return ret;
    char call[96];
    snprintf(call, sizeof call, "nvmlDeviceCreateGpuInstance gpu=%u profile=%u start=%ld", device->gpu, profileId,
             start);
    if (take_mutation())
        return end_mutation(NVML_ERROR_UNKNOWN, call);
    unsigned id;
    ret = create_gi(gpu, profileId, start, &id);
    if (ret == NVML_SUCCESS)
        *gpuInstance = &gi_handles[device->gpu][id];
    return end_mutation(ret, call);
}

EXPORT nvmlReturn_t nvmlDeviceCreateGpuInstance(nvmlDevice_t device, unsigned int profileId,
                                                nvmlGpuInstance_t *gpuInstance)
{
    return create_gpu_instance(device, profileId, -1, gpuInstance);
}

EXPORT nvmlReturn_t nvmlDeviceCreateGpuInstanceWithPlacement(nvmlDevice_t device, unsigned int profileId,
                                                             const nvmlGpuInstancePlacement_t *placement,
                                                             nvmlGpuInstance_t *gpuInstance)
{
    if (!placement)
        return NVML_ERROR_INVALID_ARGUMENT;
    return create_gpu_instance(device, profileId, placement->start, gpuInstance);
}

/* mig.py: destroy_gpu_instance */
EXPORT nvmlReturn_t nvmlGpuInstanceDestroy(nvmlGpuInstance_t gpuInstance)
{
    nvmlReturn_t ret = begin(1);
    if (ret != NVML_SUCCESS)
        return ret;
    record_t *gi = instance_gi(gpuInstance);
    if (!gi)
        return end(NVML_ERROR_INVALID_ARGUMENT);
    char call[64];
    snprintf(call, sizeof call, "nvmlGpuInstanceDestroy gpu=%u gi=%u", gpuInstance->gpu, gpuInstance->id);
    if (take_mutation())
        return end_mutation(NVML_ERROR_UNKNOWN, call);
    if (ci_count(gpuInstance->gpu, gpuInstance->id) || process_count(gpuInstance->gpu, gpuInstance->id, -2))
        return end_mutation(NVML_ERROR_IN_USE, call);
    remove_record(gi);
    return end_mutation(NVML_SUCCESS, call);
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t device, unsigned int profileId,
                                              nvmlGpuInstance_t *gpuInstances, unsigned int *count)
{
    record_t *gpu;
    nvmlReturn_t ret = count && gpuInstances ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    if (!mig_enabled(gpu) || is_mig_device(device))
        return end(NVML_ERROR_NOT_SUPPORTED);
    if (!gi_profile(gpu, "id", profileId))
        return end(NVML_ERROR_INVALID_ARGUMENT);
    unsigned n = 0;
    for (int i = 0; i < record_count; i++)
        if (is(&records[i], "gi") && num(&records[i], "gpu") == (long)device->gpu &&
            num(&records[i], "profile") == (long)profileId && num(&records[i], "id") < MAX_GI_ID)
            gpuInstances[n++] = &gi_handles[device->gpu][num(&records[i], "id")];
    *count = n;
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id, nvmlGpuInstance_t *gpuInstance)
{
    record_t *gpu;
    nvmlReturn_t ret = gpuInstance ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    if (!mig_enabled(gpu) || is_mig_device(device))
        return end(NVML_ERROR_NOT_SUPPORTED);
    if (id >= MAX_GI_ID || !gi_record(device->gpu, id))
        return end(NVML_ERROR_NOT_FOUND);
    *gpuInstance = &gi_handles[device->gpu][id];
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t *info)
{
    nvmlReturn_t ret = info ? begin(0) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    record_t *gi = instance_gi(gpuInstance);
    if (!gi)
        return end(NVML_ERROR_INVALID_ARGUMENT);
    const record_t *profile = gi_profile(gpu_record(gpuInstance->gpu), "id", num(gi, "profile"));
    info->device = &gpu_handles[gpuInstance->gpu];
    info->id = gpuInstance->id;
    info->profileId = (unsigned)num(gi, "profile");
    info->placement.start = (unsigned)num(gi, "start");
    info->placement.size = (unsigned)num(profile, "memory_slices");
    return end(NVML_SUCCESS);
}

/* Opens a call on a GPU instance: *gpu and *gi are its records. */
static nvmlReturn_t begin_instance(nvmlGpuInstance_t instance, int exclusive, record_t **gpu, record_t **gi)
{
    nvmlReturn_t ret = begin(exclusive);
    if (ret != NVML_SUCCESS)
        return ret;
    *gi = instance_gi(instance);
    *gpu = *gi ? gpu_record(instance->gpu) : NULL;
    return *gpu ? NVML_SUCCESS : end(NVML_ERROR_INVALID_ARGUMENT);
}

/* Fills the fields both ComputeInstanceProfileInfo versions share; engines are the GI's. */
#define FILL_CI_PROFILE_INFO(info, p, gp)                          \
    do {                                                           \
        (info)->id = (unsigned)num(p, "id");                       \
        (info)->sliceCount = (unsigned)num(p, "compute");          \
        (info)->instanceCount = (unsigned)num(p, "max");           \
        (info)->multiprocessorCount = (unsigned)num(p, "sm");      \
        (info)->sharedCopyEngineCount = (unsigned)num(gp, "ce");   \
        (info)->sharedDecoderCount = (unsigned)num(gp, "dec");     \
        (info)->sharedEncoderCount = (unsigned)num(gp, "enc");     \
        (info)->sharedJpegCount = (unsigned)num(gp, "jpeg");       \
        (info)->sharedOfaCount = (unsigned)num(gp, "ofa");         \
    } while (0)

/* Opens a call on a CI profile of a GPU instance: *p and *gp are the CI and GI profiles. */
static nvmlReturn_t begin_ci_profile(nvmlGpuInstance_t instance, unsigned profile, const record_t **p,
                                     const record_t **gp)
{
    record_t *gpu, *gi;
    nvmlReturn_t ret = begin_instance(instance, 0, &gpu, &gi);
    if (ret != NVML_SUCCESS)
        return ret;
    *p = ci_profile(gpu, num(gi, "profile"), profile);
    *gp = gi_profile(gpu, "id", num(gi, "profile"));
    if (!*p)
        return end(profile >= NVML_COMPUTE_INSTANCE_PROFILE_COUNT ? NVML_ERROR_INVALID_ARGUMENT
                                                                  : NVML_ERROR_NOT_SUPPORTED);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfo(nvmlGpuInstance_t gpuInstance, unsigned int profile,
                                                                 unsigned int engProfile,
                                                                 nvmlComputeInstanceProfileInfo_t *info)
{
    (void)engProfile; /* NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED is the only one */
    const record_t *p, *gp;
    nvmlReturn_t ret = info ? begin_ci_profile(gpuInstance, profile, &p, &gp) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    memset(info, 0, sizeof *info);
    FILL_CI_PROFILE_INFO(info, p, gp);
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfoV(nvmlGpuInstance_t gpuInstance, unsigned int profile,
                                                                  unsigned int engProfile,
                                                                  nvmlComputeInstanceProfileInfo_v2_t *info)
{
    (void)engProfile;
    if (!info)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (info->version != nvmlComputeInstanceProfileInfo_v2)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    const record_t *p, *gp;
    nvmlReturn_t ret = begin_ci_profile(gpuInstance, profile, &p, &gp);
    if (ret != NVML_SUCCESS)
        return ret;
    memset(info, 0, sizeof *info);
    info->version = nvmlComputeInstanceProfileInfo_v2;
    FILL_CI_PROFILE_INFO(info, p, gp);
    snprintf(info->name, sizeof info->name, "MIG %s", get(p, "name"));
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstancePossiblePlacements(nvmlGpuInstance_t gpuInstance,
                                                                        unsigned int profileId,
                                                                        nvmlComputeInstancePlacement_t *placements,
                                                                        unsigned int *count)
{
    record_t *gpu, *gi;
    nvmlReturn_t ret = count ? begin_instance(gpuInstance, 0, &gpu, &gi) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    const record_t *p = ci_profile(gpu, num(gi, "profile"), profileId);
    if (!p)
        return end(NVML_ERROR_NOT_SUPPORTED);
    unsigned starts[MAX_CI_ID];
    int n = parse_list(get(p, "placements"), starts, MAX_CI_ID);
    if (placements) {
        if (*count < (unsigned)n) {
            *count = (unsigned)n;
            return end(NVML_ERROR_INSUFFICIENT_SIZE);
        }
        for (int i = 0; i < n; i++)
            placements[i] = (nvmlComputeInstancePlacement_t){starts[i], (unsigned)num(p, "compute")};
    }
    *count = (unsigned)n;
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceRemainingCapacity(nvmlGpuInstance_t gpuInstance,
                                                                       unsigned int profileId, unsigned int *count)
{
    record_t *gpu, *gi;
    nvmlReturn_t ret = count ? begin_instance(gpuInstance, 0, &gpu, &gi) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    if (!ci_profile(gpu, num(gi, "profile"), profileId))
        return end(NVML_ERROR_NOT_SUPPORTED);
    /* Create CIs in memory until one fails; end() saves nothing, so they vanish. */
    unsigned id;
    for (*count = 0; create_ci(gpu, gi, profileId, -1, &id) == NVML_SUCCESS; (*count)++)
        ;
    return end(NVML_SUCCESS);
}

static nvmlReturn_t create_compute_instance(nvmlGpuInstance_t gpuInstance, unsigned profileId, long start,
                                            nvmlComputeInstance_t *computeInstance)
{
    record_t *gpu, *gi;
    nvmlReturn_t ret = computeInstance ? begin_instance(gpuInstance, 1, &gpu, &gi) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    char call[112];
    snprintf(call, sizeof call, "nvmlGpuInstanceCreateComputeInstance gpu=%u gi=%u profile=%u start=%ld",
             gpuInstance->gpu, gpuInstance->id, profileId, start);
    if (take_mutation())
        return end_mutation(NVML_ERROR_UNKNOWN, call);
    unsigned id;
    ret = create_ci(gpu, gi, profileId, start, &id);
    if (ret == NVML_SUCCESS)
        *computeInstance = &ci_handles[gpuInstance->gpu][gpuInstance->id][id];
    return end_mutation(ret, call);
}

EXPORT nvmlReturn_t nvmlGpuInstanceCreateComputeInstance(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
                                                         nvmlComputeInstance_t *computeInstance)
{
    return create_compute_instance(gpuInstance, profileId, -1, computeInstance);
}

EXPORT nvmlReturn_t nvmlGpuInstanceCreateComputeInstanceWithPlacement(nvmlGpuInstance_t gpuInstance,
                                                                      unsigned int profileId,
                                                                      const nvmlComputeInstancePlacement_t *placement,
                                                                      nvmlComputeInstance_t *computeInstance)
{
    if (!placement)
        return NVML_ERROR_INVALID_ARGUMENT;
    return create_compute_instance(gpuInstance, profileId, placement->start, computeInstance);
}

/* mig.py: destroy_compute_instance */
EXPORT nvmlReturn_t nvmlComputeInstanceDestroy(nvmlComputeInstance_t computeInstance)
{
    nvmlReturn_t ret = begin(1);
    if (ret != NVML_SUCCESS)
        return ret;
    record_t *ci = instance_ci(computeInstance);
    if (!ci)
        return end(NVML_ERROR_INVALID_ARGUMENT);
    char call[80];
    snprintf(call, sizeof call, "nvmlComputeInstanceDestroy gpu=%u gi=%u ci=%u", computeInstance->gpu,
             computeInstance->gi, computeInstance->id);
    if (take_mutation())
        return end_mutation(NVML_ERROR_UNKNOWN, call);
    if (process_count(computeInstance->gpu, computeInstance->gi, computeInstance->id))
        return end_mutation(NVML_ERROR_IN_USE, call);
    remove_record(ci);
    return end_mutation(NVML_SUCCESS, call);
}

EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstances(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
                                                       nvmlComputeInstance_t *computeInstances, unsigned int *count)
{
    record_t *gpu, *gi;
    nvmlReturn_t ret = computeInstances && count ? begin_instance(gpuInstance, 0, &gpu, &gi)
                                                 : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    if (!ci_profile(gpu, num(gi, "profile"), profileId))
        return end(NVML_ERROR_INVALID_ARGUMENT);
    unsigned n = 0;
    for (long id = 0; id < MAX_CI_ID; id++) {
        const record_t *ci = ci_record(gpuInstance->gpu, gpuInstance->id, id);
        if (ci && num(ci, "profile") == (long)profileId)
            computeInstances[n++] = &ci_handles[gpuInstance->gpu][gpuInstance->id][id];
    }
    *count = n;
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceById(nvmlGpuInstance_t gpuInstance, unsigned int id,
                                                          nvmlComputeInstance_t *computeInstance)
{
    record_t *gpu, *gi;
    nvmlReturn_t ret = computeInstance ? begin_instance(gpuInstance, 0, &gpu, &gi) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    if (id >= MAX_CI_ID || !ci_record(gpuInstance->gpu, gpuInstance->id, id))
        return end(NVML_ERROR_NOT_FOUND);
    *computeInstance = &ci_handles[gpuInstance->gpu][gpuInstance->id][id];
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlComputeInstanceGetInfo_v2(nvmlComputeInstance_t computeInstance,
                                                  nvmlComputeInstanceInfo_t *info)
{
    nvmlReturn_t ret = info ? begin(0) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    record_t *ci = instance_ci(computeInstance);
    if (!ci)
        return end(NVML_ERROR_INVALID_ARGUMENT);
    record_t *gpu = gpu_record(computeInstance->gpu), *gi = gi_record(computeInstance->gpu, computeInstance->gi);
    const record_t *profile = ci_profile(gpu, num(gi, "profile"), num(ci, "profile"));
    info->device = &gpu_handles[computeInstance->gpu];
    info->gpuInstance = &gi_handles[computeInstance->gpu][computeInstance->gi];
    info->id = computeInstance->id;
    info->profileId = (unsigned)num(ci, "profile");
    info->placement.start = (unsigned)num(ci, "start");
    info->placement.size = (unsigned)num(profile, "compute");
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    record_t *gpu;
    nvmlReturn_t ret = isMigDevice ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    *isMigDevice = (unsigned)is_mig_device(device);
    return end(NVML_SUCCESS);
}

static nvmlReturn_t mig_device_id(nvmlDevice_t device, unsigned *id, int want_ci)
{
    record_t *gpu;
    nvmlReturn_t ret = id ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    if (!is_mig_device(device))
        return end(NVML_ERROR_NOT_SUPPORTED);
    *id = (unsigned)(want_ci ? device->ci : device->gi);
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return mig_device_id(device, id, 0);
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return mig_device_id(device, id, 1);
}

EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    record_t *gpu;
    nvmlReturn_t ret = count ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    *count = mig_enabled(gpu) && !is_mig_device(device) ? (unsigned)num(gpu, "compute_slices") : 0;
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                        nvmlDevice_t *migDevice)
{
    record_t *gpu;
    nvmlReturn_t ret = migDevice ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    if (!mig_enabled(gpu) || is_mig_device(device))
        return end(NVML_ERROR_NOT_SUPPORTED);
    if (index >= (unsigned)num(gpu, "compute_slices"))
        return end(NVML_ERROR_INVALID_ARGUMENT);
    const record_t *ci = nth_mig_device(gpu, index);
    if (!ci)
        return end(NVML_ERROR_NOT_FOUND);
    *migDevice = &mig_handles[device->gpu][num(ci, "gi")][num(ci, "id")];
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice, nvmlDevice_t *device)
{
    record_t *gpu;
    nvmlReturn_t ret = device ? begin_device(migDevice, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    if (!is_mig_device(migDevice))
        return end(NVML_ERROR_INVALID_ARGUMENT);
    *device = &gpu_handles[migDevice->gpu];
    return end(NVML_SUCCESS);
}

/* ---------------------------------------------------------------------------------------
 * What NVIDIA's device plugin and GPU feature discovery (k8s-device-plugin, through
 * go-nvml and go-nvlib) call besides the above. go-nvml calls the library's symbols
 * directly, so each function they reach must exist; each returns what a real driver
 * returns, or NVML_ERROR_NOT_SUPPORTED where a real A100/H100/H200 driver does.
 */

/* The NVML architecture enum of each architecture the state names (gpu.architecture). */
static const struct {
    const char *name;
    nvmlDeviceArchitecture_t arch;
} architectures[] = {
    {"Ampere", NVML_DEVICE_ARCH_AMPERE},
    {"Ada Lovelace", NVML_DEVICE_ARCH_ADA},
    {"Hopper", NVML_DEVICE_ARCH_HOPPER},
    {"Blackwell", NVML_DEVICE_ARCH_BLACKWELL},
};

static int architecture_of(const record_t *gpu)
{
    for (size_t i = 0; i < sizeof architectures / sizeof architectures[0]; i++)
        if (strcasecmp(get(gpu, "architecture"), architectures[i].name) == 0)
            return (int)i;
    return -1;
}

/* A MIG device answers for its parent GPU here, as on a real driver. */
EXPORT nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, nvmlDeviceArchitecture_t *arch)
{
    record_t *gpu;
    nvmlReturn_t ret = arch ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    int known = architecture_of(gpu);
    *arch = known < 0 ? NVML_DEVICE_ARCH_UNKNOWN : architectures[known].arch;
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor)
{
    record_t *gpu;
    nvmlReturn_t ret = major && minor ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    /* gpu.compute_capability, "9.0" (the simulator's model data); unknown: 0.0 */
    *major = *minor = 0;
    sscanf(get(gpu, "compute_capability"), "%d.%d", major, minor);
    return end(NVML_SUCCESS);
}

/* Datacenter GPUs on current drivers; the real H200 reports 14. */
EXPORT nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t device, nvmlBrandType_t *type)
{
    record_t *gpu;
    nvmlReturn_t ret = type ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    *type = NVML_BRAND_NVIDIA;
    return end(NVML_SUCCESS);
}

/* /dev/nvidia<minor>: the GPU's index ([INFERRED]: the driver numbers GPUs in probe
 * order, which is also NVML's order here; the real single-GPU H200 reports 0). */
EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
    record_t *gpu;
    nvmlReturn_t ret = minorNumber ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    if (is_mig_device(device))
        return end(NVML_ERROR_NOT_SUPPORTED);
    *minorNumber = (unsigned)num(gpu, "index");
    return end(NVML_SUCCESS);
}

/* No NVLink fabric is simulated. Hopper and newer answer with the fabric state "not
 * supported", as the real single-GPU H200 does (driver 580.159.04: NVML_SUCCESS, state 0,
 * status 0, clique 0, cluster UUID zero, for both calls); older GPUs do not support the
 * query (nvml.h: "For Hopper or newer fully supported devices"). */
static nvmlReturn_t begin_fabric(nvmlDevice_t device, const void *info)
{
    record_t *gpu;
    nvmlReturn_t ret = info ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    int known = architecture_of(gpu);
    if (known < 0 || architectures[known].arch < NVML_DEVICE_ARCH_HOPPER)
        return end(NVML_ERROR_NOT_SUPPORTED);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuFabricInfo(nvmlDevice_t device, nvmlGpuFabricInfo_t *gpuFabricInfo)
{
    nvmlReturn_t ret = begin_fabric(device, gpuFabricInfo);
    if (ret != NVML_SUCCESS)
        return ret;
    memset(gpuFabricInfo, 0, sizeof *gpuFabricInfo);
    gpuFabricInfo->state = NVML_GPU_FABRIC_STATE_NOT_SUPPORTED;
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuFabricInfoV(nvmlDevice_t device, nvmlGpuFabricInfoV_t *gpuFabricInfo)
{
    if (gpuFabricInfo && gpuFabricInfo->version != nvmlGpuFabricInfo_v2 &&
        gpuFabricInfo->version != nvmlGpuFabricInfo_v3)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    nvmlReturn_t ret = begin_fabric(device, gpuFabricInfo);
    if (ret != NVML_SUCCESS)
        return ret;
    unsigned version = gpuFabricInfo->version;
    memset(gpuFabricInfo, 0, version == nvmlGpuFabricInfo_v2 ? sizeof(nvmlGpuFabricInfo_v2_t) : sizeof *gpuFabricInfo);
    gpuFabricInfo->version = version;
    gpuFabricInfo->state = NVML_GPU_FABRIC_STATE_NOT_SUPPORTED;
    return end(NVML_SUCCESS);
}

/* Neither HMM nor ATS (the real H200: "Addressing Mode: None"). */
EXPORT nvmlReturn_t nvmlDeviceGetAddressingMode(nvmlDevice_t device, nvmlDeviceAddressingMode_t *mode)
{
    if (!mode)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (mode->version != nvmlDeviceAddressingMode_v1)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    record_t *gpu;
    nvmlReturn_t ret = begin_device(device, &gpu);
    if (ret != NVML_SUCCESS)
        return ret;
    mode->value = NVML_DEVICE_ADDRESSING_MODE_NONE;
    return end(NVML_SUCCESS);
}

/* Attributes of a MIG device: its GPU instance's engines and memory, its compute
 * instance's SMs; a whole GPU: not supported (nvml.h; the real H200 agrees). */
EXPORT nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes)
{
    record_t *gpu;
    nvmlReturn_t ret = attributes ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    if (!is_mig_device(device))
        return end(NVML_ERROR_NOT_SUPPORTED);
    record_t *gi = gi_record(device->gpu, device->gi), *ci = ci_record(device->gpu, device->gi, device->ci);
    const record_t *gp = gi_profile(gpu, "id", num(gi, "profile"));
    const record_t *cp = ci_profile(gpu, num(gi, "profile"), num(ci, "profile"));
    if (!gp || !cp)
        return end(NVML_ERROR_UNKNOWN);
    memset(attributes, 0, sizeof *attributes);
    attributes->multiprocessorCount = (unsigned)num(cp, "sm");
    attributes->sharedCopyEngineCount = (unsigned)num(gp, "ce");
    attributes->sharedDecoderCount = (unsigned)num(gp, "dec");
    attributes->sharedEncoderCount = (unsigned)num(gp, "enc");
    attributes->sharedJpegCount = (unsigned)num(gp, "jpeg");
    attributes->sharedOfaCount = (unsigned)num(gp, "ofa");
    attributes->gpuInstanceSliceCount = (unsigned)num(gp, "compute");
    attributes->computeInstanceSliceCount = (unsigned)num(cp, "compute");
    attributes->memorySizeMB = (unsigned long long)num(gp, "memory_mib");
    return end(NVML_SUCCESS);
}

/* Events. The device plugin's health check registers XID and ECC events on every GPU
 * and waits for them; no event is simulated, so a wait always times out. The supported
 * set is the real H200's (driver 580.159.04: 0xff9f). */
#define SUPPORTED_EVENTS                                                                           \
    (nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError | nvmlEventTypePState |       \
     nvmlEventTypeXidCriticalError | nvmlEventTypeClock | nvmlEventTypePowerSourceChange |         \
     nvmlEventMigConfigChange | nvmlEventTypeSingleBitEccErrorStorm | nvmlEventTypeDramRetirementEvent | \
     nvmlEventTypeDramRetirementFailure | nvmlEventTypeNonFatalPoisonError | nvmlEventTypeFatalPoisonError | \
     nvmlEventTypeGpuUnavailableError | nvmlEventTypeGpuRecoveryAction)

struct nvmlEventSet_st {
    unsigned long long registered[MAX_GPUS];
};

EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    nvmlReturn_t ret = set ? begin(0) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    *set = calloc(1, sizeof **set);
    return end(*set ? NVML_SUCCESS : NVML_ERROR_MEMORY);
}

EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *eventTypes)
{
    record_t *gpu;
    nvmlReturn_t ret = eventTypes ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    *eventTypes = SUPPORTED_EVENTS;
    return end(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes, nvmlEventSet_t set)
{
    record_t *gpu;
    nvmlReturn_t ret = set ? begin_device(device, &gpu) : NVML_ERROR_INVALID_ARGUMENT;
    if (ret != NVML_SUCCESS)
        return ret;
    /* nvml.h: per-instance events through MIG device handles are not supported. */
    if (is_mig_device(device) || (eventTypes & ~SUPPORTED_EVENTS))
        return end(NVML_ERROR_NOT_SUPPORTED);
    set->registered[device->gpu] |= eventTypes;
    return end(NVML_SUCCESS);
}

/* Sleeps without holding the library's call lock, so that other threads' calls go on. */
EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    if (!set || !data)
        return NVML_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&call_mutex);
    int initialised = init_count > 0;
    pthread_mutex_unlock(&call_mutex);
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    struct timespec wait = {(time_t)(timeoutms / 1000), (long)(timeoutms % 1000) * 1000000L};
    while (nanosleep(&wait, &wait) != 0 && errno == EINTR)
        ;
    return NVML_ERROR_TIMEOUT;
}

EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    pthread_mutex_lock(&call_mutex);
    int initialised = init_count > 0;
    pthread_mutex_unlock(&call_mutex);
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    free(set);
    return NVML_SUCCESS;
}
