"""Where builder keeps things in a backend (paths relative to its root, posix).

What a team commits lives at the root: builder.toml, the locks, sizes.json, the Dockerfile.
Everything in the work folder is made again when missing, and its own .gitignore keeps it
out of git.
"""

CONFIG_FILE = "builder.toml"
LOCK_DIR = "builder-locks"  # the locks builder writes from requirements files
SHARED_LOCK = f"{LOCK_DIR}/shared.txt"
IMAGE_URIS = "image-uris.json"  # function -> repository@sha256:... that push writes and migrate --pin reads

WORK_DIR = ".builder"
WHEELHOUSE = f"{WORK_DIR}/wheelhouse"
GROUPS_DIR = f"{WORK_DIR}/groups"  # a folder per dependency group: its wheels, pins and strip lists
STAGE_DIR = f"{WORK_DIR}/stage"  # the build-stage helper the Dockerfile mounts (resources/stage.py)
CACHE_DIR = f"{WORK_DIR}/cache"
CONTEXT_COPIES = f"{WORK_DIR}/context"  # files that symbolic links lead to outside the backend
SAM_DOCKERFILE = f"{WORK_DIR}/sam/Dockerfile"  # the classic-builder Dockerfile migrated functions name
# One per Lambda architecture: the classic builder builds every stage before the target, all for
# the build's one platform, so one file cannot hold the stages of both.
SAM_DOCKERFILES = {"x86_64": SAM_DOCKERFILE, "arm64": f"{WORK_DIR}/sam/Dockerfile.arm64"}
DISPATCH_DIR = f"{WORK_DIR}/one-image"  # the one image's generated start modules
