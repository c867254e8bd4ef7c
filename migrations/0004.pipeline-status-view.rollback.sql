-- Remove the pipeline status view.
DROP VIEW IF EXISTS v_trade_pipeline_status;
