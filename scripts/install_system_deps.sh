#!/usr/bin/env bash
# Install the Debian packages SafetyForge needs (fonts for the reference renderers, tesseract for
# OCR checks) where they are missing. Safe to run repeatedly; prints what it cannot do and why.
#   --with-browser  also Debian chromium, for the headless test of the Label Studio page (make test)
set -uo pipefail

declare -A CHECKS=(
  [fonts-liberation2]=/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf
  [fonts-freefont-ttf]=/usr/share/fonts/truetype/freefont/FreeMonoBold.ttf
  [fonts-noto-cjk]=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
  [fonts-noto-core]=/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf
  [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
  [tesseract-ocr]=/usr/bin/tesseract
  # Language data for the translated and non-Latin presets' OCR checks (zh, ar, hi).
  [tesseract-ocr-chi-sim]=/usr/share/tesseract-ocr/5/tessdata/chi_sim.traineddata
  [tesseract-ocr-ara]=/usr/share/tesseract-ocr/5/tessdata/ara.traineddata
  [tesseract-ocr-hin]=/usr/share/tesseract-ocr/5/tessdata/hin.traineddata
)
if [[ "${1:-}" == "--with-browser" ]]; then
  CHECKS[chromium]=/usr/bin/chromium
fi

missing=()
for pkg in "${!CHECKS[@]}"; do
  [[ -e "${CHECKS[$pkg]}" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "system-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "system-deps: cannot install ${missing[*]} (not root, no passwordless sudo)." >&2
    echo "system-deps: run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "system-deps: no apt-get here; install the equivalents of: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null || echo "system-deps: apt-get update failed; trying the install anyway" >&2
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "system-deps: apt-get install ${missing[*]} failed; install them by hand." >&2
  exit 1
fi
echo "system-deps: installed ${missing[*]}"
