#!/usr/bin/env bash
# Regenerate results/tables.md, tables.png and runs.csv from the committed run files (results/runs/).
# To add finished runs first: scratchgrad report RUN_DIR... --archive results/runs -o /tmp/new.md
#   usage: results/make_tables.sh [OUT_DIR]   (default: results/ itself)
set -eu
cd "$(dirname "$0")/.."
out=${1:-results}
${SCRATCHGRAD:-scratchgrad} report results/runs/*/* -o "$out/tables.md" --csv "$out/runs.csv" \
  --contrast "BEST model vs base (BatchNorm, no conv dropout, fc dropout 0.5 -> 0.3)=fashion-mnist-5-cpu:fashion-mnist-1-cpu" \
  --contrast "extra augmentation (ColorJitter)=fashion-mnist-3-cpu:fashion-mnist-5-cpu" \
  --contrast "no dropout (fc dropout 0.3 -> 0)=fashion-mnist-4-cpu:fashion-mnist-3-cpu" \
  --contrast "SGD vs Adam, the study's pair (the augmentation differs too)=fashion-mnist-2-cpu:fashion-mnist-1-cpu" \
  --contrast "Adam with extra augmentation vs base (the control for the SGD pair)=fashion-mnist-2-adam-cpu:fashion-mnist-1-cpu" \
  --contrast "ResNet18 vs C5L3 BEST (both width 0.25, the same recipe)=fashion-mnist-resnet18-cpu:fashion-mnist-3-cpu" \
  --contrast "our recipe vs the study's on MNIST C5L3 (OneCycle to 3e-3, no augmentation)=mnist-3-onecycle-cpu:mnist-3-cpu" \
  --contrast "our recipe vs the study's on MNIST ResNet18 (the same change)=mnist-resnet18-onecycle-cpu:mnist-resnet18-cpu" \
  --contrast "our recipe vs the study's on Fashion-MNIST C5L3 BEST (OneCycle to 3e-3, crop+flip)=fashion-mnist-3-onecycle-cpu:fashion-mnist-3-cpu"
