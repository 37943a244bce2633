"""Evaluation: grayscale each photo, colorize it, compare with the truth.

    photos   load_photos: colour photos as centre-cropped squares; gray_photo
    run      evaluate: each model (Colorizer.predict_ab with its options) and the gray
             baseline on the photos, scored by colorizer.metrics.Scores, plus FD-Lite0
    report   markdown_table, grid_image, write_report (JSON, Markdown, HTML + grid)

Reports PSNR (8-bit RGB), SSIM, CIEDE2000, colourfulness (CF) of predictions and truth,
|dCF| (DDColor's: the difference of the mean CFs) and its stricter per-photo variant (the
mean of |CF(pred) - CF(truth)|), and FD-Lite0 (Frechet distance on EfficientNet-Lite0
pooled features), for each model and for the gray baseline (a = b = 0)."""
from .photos import PHOTO_EXTS, Photos, gray_photo, load_photos
from .report import grid_columns, grid_image, markdown_table, model_labels, write_report
from .run import GRAY, evaluate, predict_rgb, rows_to_run

__all__ = ["GRAY", "PHOTO_EXTS", "Photos", "evaluate", "gray_photo", "grid_columns", "grid_image", "load_photos",
           "markdown_table", "model_labels", "predict_rgb", "rows_to_run", "write_report"]
