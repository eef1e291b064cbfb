"""Renderers: arrays in, arrays out — rigs, offscreen rasterisation, composition, video.

::

    from renderers.pipeline import Stage, load_rig, frames_for
    from renderers.video import write_mp4

    rig = load_rig("default")                         # or "ict", an OBJ folder, a rig .npz
    frames = frames_for(clip, rig, Stage(size=512))   # iterator of (512, 512, 3) uint8
    write_mp4(frames, "take.mp4", fps=30)

Lower level: ``rig.evaluate(clip) -> (T, V, 3)`` (:mod:`renderers.rig`),
``rasterize(vertices, rig, camera) -> (T, H, W, 3) uint8`` (:mod:`renderers.raster`),
``side_by_side`` / ``contact_sheet`` / ``CurveStrip`` (:mod:`renderers.compose`), FLAME heads
(:mod:`renderers.flame`). Only :mod:`renderers.video` and the rig loaders touch files.
"""
